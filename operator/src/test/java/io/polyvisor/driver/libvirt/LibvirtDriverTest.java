package io.polyvisor.driver.libvirt;

import static org.assertj.core.api.Assertions.assertThat;

import io.polyvisor.api.v1alpha1.NumaPlacement;
import io.polyvisor.driver.GuestId;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestSpec;
import io.polyvisor.driver.GuestSpec.GuestDisk;
import io.polyvisor.driver.GuestSpec.GuestMemory;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.Host;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The driver's bookkeeping against libvirt's in-process {@code test://} driver: fast, no daemon,
 * real libvirt parsing and storage of what the driver defines.
 */
class LibvirtDriverTest {

  /** Markup characters that a Kubernetes name cannot hold but a label or disk name could. */
  private static final String HOSTILE = "a<b>&c'd\"e]]>f";

  private final LibvirtDriver driver = new LibvirtDriver();
  private final Host host = new Host("test-host", "test:///default");

  @AfterEach
  void close() {
    driver.close();
  }

  @Test
  void hostileValuesRoundTripThroughLibvirtAsData() {
    GuestId id = new GuestId(HOSTILE, HOSTILE, UUID.randomUUID().toString());
    GuestSpec spec = new GuestSpec(id, 1, GuestMemory.fixed(64L << 20), NumaPlacement.None,
        List.of(new GuestDisk(HOSTILE, "/images/" + HOSTILE, "raw", Optional.of(1))), List.of(), Optional.empty());

    GuestInfo defined = driver.define(host, spec);

    assertThat(defined.id()).isEqualTo(id);
    assertThat(defined.state()).isEqualTo(GuestState.SHUT_OFF);
    assertThat(driver.find(host, id.uid())).map(GuestInfo::id).contains(id);
    assertThat(driver.list(host)).extracting(GuestInfo::id).contains(id);
    driver.undefine(host, id.uid());
    assertThat(driver.find(host, id.uid())).isEmpty();
  }

  @Test
  void theTestDriversOwnDomainIsNotOurs() {
    // test:///default ships a domain named "test" that the operator did not create.
    assertThat(driver.list(host)).extracting(g -> g.id().name()).doesNotContain("test");
  }

  @Test
  void startAndForceStopAreIdempotent() {
    GuestId id = new GuestId("ns", "idempotent", UUID.randomUUID().toString());
    driver.define(host, new GuestSpec(id, 2, GuestMemory.fixed(32L << 20), NumaPlacement.None, List.of(), List.of(), Optional.empty()));
    driver.start(host, id.uid());
    driver.start(host, id.uid());
    assertThat(driver.find(host, id.uid())).map(GuestInfo::state).contains(GuestState.RUNNING);
    driver.forceStop(host, id.uid());
    driver.forceStop(host, id.uid());
    assertThat(driver.find(host, id.uid())).map(GuestInfo::state).contains(GuestState.SHUT_OFF);
    driver.undefine(host, id.uid());
    driver.undefine(host, id.uid());
  }
}
