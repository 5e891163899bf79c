package io.polyvisor.driver.libvirt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.polyvisor.driver.Host;
import io.polyvisor.driver.HostUnreachableException;
import io.polyvisor.testing.KvmNodes;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real libvirtd that stops answering (SIGSTOP: its socket stays open, nothing comes back) costs
 * its callers the call timeout and nothing more, and costs another host nothing.
 */
class LibvirtHungHostIT {

  private static final Duration CALL_TIMEOUT = Duration.ofSeconds(2);
  /** Generous: the machine that runs the tests is shared. */
  private static final Duration MARGIN = Duration.ofSeconds(3);

  @TempDir static Path work;
  private static KvmNodes nodes;
  private static LibvirtDriver driver;
  private static Host hung;
  private static Host fine;

  @BeforeAll
  static void startHosts() {
    nodes = KvmNodes.start(work.resolve("nodes"), "kvm-hung", "kvm-fine");
    hung = nodes.host("kvm-hung");
    fine = nodes.host("kvm-fine");
    driver = new LibvirtDriver(CALL_TIMEOUT);
  }

  @AfterAll
  static void stopHosts() {
    if (driver != null) {
      driver.close();
    }
    if (nodes != null) {
      nodes.close();
    }
  }

  @Test
  void aStoppedLibvirtdFailsItsCallersWithinTheTimeoutWhileTheOtherHostAnswersAndIsCalledAgainOnceItResumes() {
    String uid = UUID.randomUUID().toString();
    assertThat(driver.find(hung, uid)).as("connected and answering").isEmpty();
    assertThat(driver.find(fine, uid)).isEmpty();

    nodes.pauseDaemon("kvm-hung");
    try {
      Instant started = Instant.now();
      assertThatThrownBy(() -> driver.find(hung, uid))
          .isInstanceOfSatisfying(HostUnreachableException.class, e -> assertThat(e.code()).isEqualTo("HOST_HUNG"))
          .hasMessage("libvirtd on " + hung + " has not answered 'look up guest " + uid + "' for 2 s");
      assertThat(Duration.between(started, Instant.now())).isBetween(CALL_TIMEOUT, CALL_TIMEOUT.plus(MARGIN));

      started = Instant.now();
      assertThatThrownBy(() -> driver.list(hung))
          .isInstanceOfSatisfying(HostUnreachableException.class, e -> assertThat(e.code()).isEqualTo("HOST_HUNG"))
          .hasMessageContaining("has not answered 'look up guest " + uid + "'")
          .hasMessageEndingWith("; 'list guests' is not sent until it does");
      assertThat(driver.list(fine)).isEmpty();
      assertThat(driver.capacity(fine).cpus()).isPositive();
      assertThat(Duration.between(started, Instant.now())).as("at once, not after a timeout").isLessThan(CALL_TIMEOUT);
    } finally {
      nodes.resumeDaemon("kvm-hung");
    }

    await().atMost(CALL_TIMEOUT.plus(MARGIN)).untilAsserted(() -> assertThat(driver.find(hung, uid)).isEmpty());
    assertThat(driver.list(hung)).isEmpty();
  }
}
