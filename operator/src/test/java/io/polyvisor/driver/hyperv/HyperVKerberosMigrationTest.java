package io.polyvisor.driver.hyperv;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.polyvisor.api.v1alpha1.NumaPlacement;
import io.polyvisor.driver.GuestId;
import io.polyvisor.driver.GuestSpec;
import io.polyvisor.driver.GuestSpec.GuestDisk;
import io.polyvisor.driver.GuestSpec.GuestMemory;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.driver.MigrationJob;
import io.polyvisor.driver.MigrationOptions;
import io.polyvisor.driver.MigrationResult;
import io.polyvisor.driver.StoragePoolSpec;
import io.polyvisor.driver.Volume;
import io.polyvisor.driver.VolumeSpec;
import io.polyvisor.driver.hyperv.winrm.WinRmCredentials;
import io.polyvisor.testing.hyperv.HyperVNetwork;
import io.polyvisor.testing.hyperv.SimulatedHyperVHost;
import io.polyvisor.testing.hyperv.TestCertificate;
import io.polyvisor.testing.hyperv.TestKdc;
import io.polyvisor.testing.hyperv.WinRmSimulator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Move-VM's double hop: two simulated hosts whose migration authentication is Kerberos ({@code
 * kerberosMigration()}), whose WinRM takes Basic and Kerberos (tickets from a real MIT KDC, checked
 * by the JDK's GSS acceptor). A Basic session holds no credentials to reach the destination with,
 * as on a real host; a Kerberos session that delegated its TGT does.
 */
class HyperVKerberosMigrationTest {

  private static final long MIB = 1L << 20;
  static final TestCertificate certificate = TestCertificate.shared();

  HyperVNetwork network;
  SimulatedHyperVHost hyperV;
  SimulatedHyperVHost peer;
  WinRmSimulator simulator;
  WinRmSimulator peerSimulator;
  HyperVDriver driver;
  Host host;
  Host peerHost;

  @BeforeEach
  void start() throws Exception {
    TestKdc kdc = TestKdc.shared();
    network = new HyperVNetwork();
    network.migrationBandwidth(256 * MIB);
    hyperV = new SimulatedHyperVHost(network, "HV1", 4096 * MIB, 8).folder("C:\\VMs").share("\\\\fs3\\vms", "3.02")
        .folder("\\\\fs3\\vms\\cluster").enableMigration().kerberosMigration();
    peer = new SimulatedHyperVHost(network, "HV2", 4096 * MIB, 8).folder("C:\\VMs").share("\\\\fs3\\vms", "3.02")
        .enableMigration().kerberosMigration();
    // Both listen on 127.0.0.1, so both are the service HTTP/127.0.0.1 (on real hosts, each its FQDN).
    simulator = new WinRmSimulator(hyperV, "admin", "s3cret", certificate.keyStore())
        .kerberos(kdc.serviceKeytab(), TestKdc.SERVICE).acceptBasicToo();
    peerSimulator = new WinRmSimulator(peer, "admin", "s3cret", certificate.keyStore())
        .kerberos(kdc.serviceKeytab(), TestKdc.SERVICE).acceptBasicToo();
    host = new Host("hv-1", simulator.endpoint().toString());
    peerHost = new Host("hv-2", peerSimulator.endpoint().toString());
  }

  @AfterEach
  void stop() {
    if (driver != null) {
      driver.close();
    }
    simulator.close();
    peerSimulator.close();
  }

  @Test
  void aBasicSessionsMoveFailsWithTheDoubleHopErrorAndTheGuestStays() {
    driver = new HyperVDriver(h -> new WinRmCredentials("admin", "s3cret", Optional.of(certificate.pem())));
    GuestSpec spec = running("basic", volume("basic-root"));

    MigrationJob job = driver.migrate(host, peerHost, spec.id().uid(), new MigrationOptions(true, 0, false, false, false));

    assertThatThrownBy(() -> job.completion().get(30, TimeUnit.SECONDS)).cause()
        .isInstanceOf(HypervisorException.class)
        .hasMessageContaining("Virtual machine migration operation for 'prod_basic' failed at migration source 'HV1'.")
        .hasMessageContaining("No credentials are available in the security package (0x8009030E)");
    assertThat(hyperV.stateOf("prod_basic")).contains("Running");
    assertThat(network.hostsRunning("prod_basic")).containsExactly("HV1");
    assertThat(peer.vmNames()).isEmpty();
    assertThat(simulator.shellCreators()).isNotEmpty().containsOnly(new WinRmSimulator.Caller("admin", "Basic", false));
  }

  @Test
  void aKerberosSessionWithAPasswordMovesTheGuest() throws Exception {
    driver = new HyperVDriver(h -> WinRmCredentials.kerberosPassword(TestKdc.USER, TestKdc.USER_PASSWORD,
        Optional.of(certificate.pem())));
    movesTheGuest("pw");
  }

  @Test
  void aKerberosSessionWithAKeytabMovesTheGuest() throws Exception {
    byte[] keytab = TestKdc.shared().userKeytab();
    driver = new HyperVDriver(h -> WinRmCredentials.kerberosKeytab(TestKdc.USER, keytab, Optional.of(certificate.pem())));
    movesTheGuest("kt");
  }

  private void movesTheGuest(String name) throws Exception {
    GuestSpec spec = running(name, volume(name + "-root"));

    MigrationJob job = driver.migrate(host, peerHost, spec.id().uid(), new MigrationOptions(true, 0, false, false, false));
    MigrationResult result = job.completion().get(30, TimeUnit.SECONDS);

    assertThat(result.finalProgress().percent()).isEqualTo(100);
    assertThat(network.hostsRunning("prod_" + name)).containsExactly("HV2");
    assertThat(hyperV.vmNames()).isEmpty();
    assertThat(peer.stateOf("prod_" + name)).contains("Running");
    assertThat(simulator.shellCreators()).isNotEmpty()
        .containsOnly(new WinRmSimulator.Caller(TestKdc.USER, "Negotiate", true));
    assertThat(simulator.authenticationFailures()).isEmpty();
  }

  private GuestSpec running(String name, VolumeSpec root) {
    Volume disk = driver.createVolume(host, root);
    GuestSpec spec = new GuestSpec(new GuestId("prod", name, UUID.randomUUID().toString()), "r", 2, GuestMemory.fixed(256 * MIB),
        NumaPlacement.None, List.of(new GuestDisk(disk.name(), disk.path(), "vhdx", Optional.empty())),
        List.of(), Optional.empty(), Optional.empty());
    driver.define(host, spec);
    driver.start(host, spec.id().uid());
    return spec;
  }

  private static VolumeSpec volume(String name) {
    return new VolumeSpec(StoragePoolSpec.fromParameters("hv", Map.of("path", "\\\\fs3\\vms")), name, 64 * MIB, Optional.empty());
  }
}
