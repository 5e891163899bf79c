package io.polyvisor.driver.hyperv;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.polyvisor.api.v1alpha1.NumaPlacement;
import io.polyvisor.driver.GuestId;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestSpec;
import io.polyvisor.driver.GuestSpec.GuestDisk;
import io.polyvisor.driver.GuestSpec.GuestMemory;
import io.polyvisor.driver.GuestSpec.GuestNic;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.driver.StoragePoolSpec;
import io.polyvisor.driver.Volume;
import io.polyvisor.driver.VolumeSpec;
import io.polyvisor.driver.hyperv.winrm.WinRmCredentials;
import io.polyvisor.testing.hyperv.SimulatedHyperVHost;
import io.polyvisor.testing.hyperv.TestCertificate;
import io.polyvisor.testing.hyperv.WinRmSimulator;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Hyper-V driver against the WinRM simulator (no Windows host is reachable from here). */
class HyperVDriverTest {

  private static final long MIB = 1L << 20;

  @TempDir static Path tls;
  static TestCertificate certificate;

  SimulatedHyperVHost hyperV;
  WinRmSimulator simulator;
  HyperVDriver driver;
  Host host;

  @BeforeAll
  static void certificate() throws Exception {
    certificate = TestCertificate.create(tls);
  }

  @BeforeEach
  void start() throws Exception {
    hyperV = new SimulatedHyperVHost("HV1", 4096 * MIB, 8)
        .folder("C:\\VMs").virtualSwitch("External")
        .share("\\\\fs3\\vms", "3.02").folder("\\\\fs3\\vms\\cluster").share("\\\\fs2\\old", "2.1")
        .file("C:\\Images\\base.vhdx", 700 * MIB);
    simulator = new WinRmSimulator(hyperV, "admin", "s3cret", certificate.keyStore());
    driver = new HyperVDriver(h -> new WinRmCredentials("admin", "s3cret", Optional.of(certificate.pem())));
    host = new Host("hv-1", simulator.endpoint().toString());
  }

  @AfterEach
  void stop() {
    driver.close();
    simulator.close();
  }

  @Test
  void aDefinedGuestHasItsMemoryAlignedItsDisksAndItsIdentityInTheNotes() {
    Volume disk = driver.createVolume(host, volume(local(), "root", 1024 * MIB));
    GuestSpec spec = spec(id("web"), "rev-1", new GuestMemory(301 * MIB, 1023 * MIB, 129 * MIB, true), List.of(disk));

    GuestInfo defined = driver.define(host, spec);

    assertThat(defined.id()).isEqualTo(spec.id());
    assertThat(defined.state()).isEqualTo(GuestState.SHUT_OFF);
    assertThat(defined.revision()).isEqualTo("rev-1");
    Map<String, Object> vm = hyperV.propertiesOf("prod_web").orElseThrow();
    assertThat(vm).containsEntry("Generation", 2).containsEntry("ProcessorCount", 2L)
        .containsEntry("DynamicMemoryEnabled", true)
        .containsEntry("MemoryStartup", 302 * MIB).containsEntry("MemoryMinimum", 130 * MIB)
        .containsEntry("MemoryMaximum", 1024 * MIB);
    assertThat((String) vm.get("Notes")).contains("polyvisor.io/uid=" + spec.id().uid());
    assertThat(hyperV.disksOf("prod_web")).containsExactly("C:\\VMs\\prod_web_root.vhdx");
    assertThat(driver.list(host)).extracting(GuestInfo::id).containsExactly(spec.id());
  }

  @Test
  void startShutdownAndTurnOffFollowTheGuest() {
    GuestSpec spec = spec(id("db"), "r", GuestMemory.fixed(1024 * MIB), List.of());
    driver.define(host, spec);
    long freeBefore = driver.capacity(host).freeMemoryBytes();

    driver.start(host, spec.id().uid());

    assertThat(driver.find(host, spec.id().uid()).orElseThrow().state()).isEqualTo(GuestState.RUNNING);
    assertThat(freeBefore - driver.capacity(host).freeMemoryBytes()).isEqualTo(1024 * MIB);
    assertThat(driver.capacity(host).totalMemoryBytes()).isEqualTo(4096 * MIB);
    assertThat(driver.capacity(host).cpus()).isEqualTo(8);

    assertThat(driver.shutdown(host, spec.id().uid(), Duration.ofSeconds(20))).isTrue();
    assertThat(hyperV.stateOf("prod_db")).contains("Off");

    driver.start(host, spec.id().uid());
    hyperV.ignoreShutdown("prod_db");
    assertThat(driver.shutdown(host, spec.id().uid(), Duration.ofSeconds(2))).as("a hung guest").isFalse();
    assertThat(hyperV.stateOf("prod_db")).contains("Running");
    driver.forceStop(host, spec.id().uid());
    assertThat(hyperV.stateOf("prod_db")).contains("Off");
  }

  @Test
  void aGuestThatDoesNotFitIsRefusedWithHyperVsReason() {
    GuestSpec big = spec(id("big"), "r", GuestMemory.fixed(5000 * MIB), List.of());
    driver.define(host, big);

    assertThatThrownBy(() -> driver.start(host, big.id().uid()))
        .isInstanceOf(HypervisorException.class)
        .hasMessageContaining("could not start guest " + big.id().uid() + " on " + host)
        .hasMessageContaining("Not enough memory in the system to start the virtual machine prod_big");
  }

  @Test
  void vmsTheOperatorDidNotCreateAreNeverTouchedEvenUnderTheSameName() {
    hyperV.createForeignVm("prod_app");
    GuestSpec spec = spec(id("app"), "r", GuestMemory.fixed(256 * MIB), List.of());

    driver.define(host, spec);
    assertThat(hyperV.vmNames()).containsExactly("prod_app", "prod_app");
    assertThat(driver.list(host)).extracting(GuestInfo::id).containsExactly(spec.id());

    driver.undefine(host, spec.id().uid());
    driver.undefine(host, spec.id().uid()); // gone already: nothing to do

    assertThat(hyperV.vmNames()).containsExactly("prod_app");
    assertThat(driver.list(host)).isEmpty();
  }

  @Test
  void userValuesReachTheHostAsDataNeverAsScript() {
    String hostile = "x'; Remove-VM -Force; '\"$(Stop-Computer)\"";
    GuestSpec spec = new GuestSpec(new GuestId("prod", hostile, UUID.randomUUID().toString()), "r", 1,
        GuestMemory.fixed(256 * MIB), NumaPlacement.None, List.of(), List.of(new GuestNic("eth0", "External")),
        Optional.empty(), Optional.empty());

    driver.define(host, spec);

    assertThat(hyperV.vmNames()).containsExactly("prod_" + hostile);
    assertThat(simulator.scripts()).noneMatch(s -> s.contains("Remove-VM -Force;") || s.contains("Stop-Computer"));
  }

  @Test
  void aStoppedGuestIsReconfiguredAndARunningOneKeepsItsConfigurationUntilItStops() {
    GuestSpec first = spec(id("cfg"), "rev-1", GuestMemory.fixed(256 * MIB), List.of());
    driver.define(host, first);
    GuestSpec second = new GuestSpec(first.id(), "rev-2", 4, GuestMemory.fixed(512 * MIB), NumaPlacement.None,
        List.of(), List.of(), Optional.empty(), Optional.empty());

    assertThat(driver.define(host, second).revision()).isEqualTo("rev-2");
    assertThat(hyperV.propertiesOf("prod_cfg").orElseThrow()).containsEntry("ProcessorCount", 4L)
        .containsEntry("MemoryStartup", 512 * MIB);

    driver.start(host, first.id().uid());
    assertThat(driver.define(host, first).revision()).as("running: applied at the next restart").isEqualTo("rev-2");
    assertThat(hyperV.propertiesOf("prod_cfg").orElseThrow()).containsEntry("ProcessorCount", 4L);
  }

  @Test
  void volumesAreVhdxFilesCreatedOnceCopiedFromAFileAndDeleted() {
    Volume blank = driver.createVolume(host, volume(local(), "blank", 1000 * MIB + 1));
    assertThat(blank.path()).isEqualTo("C:\\VMs\\blank.vhdx");
    assertThat(blank.capacityBytes()).isEqualTo(1002 * MIB);
    assertThat(driver.createVolume(host, volume(local(), "blank", 1000 * MIB + 1))).isEqualTo(blank);

    Volume copied = driver.createVolume(host, new VolumeSpec(local(), "copy", 1024 * MIB,
        Optional.of(URI.create("file:///C:/Images/base.vhdx"))));
    assertThat(copied.capacityBytes()).isEqualTo(700 * MIB);

    driver.deleteVolume(host, local(), "blank");
    driver.deleteVolume(host, local(), "blank"); // gone already
    assertThat(hyperV.filePaths()).containsExactlyInAnyOrder("c:\\images\\base.vhdx", "c:\\vms\\copy.vhdx");

    assertThatThrownBy(() -> driver.createVolume(host, new VolumeSpec(local(), "web", MIB,
        Optional.of(URI.create("https://images.example/base.vhdx")))))
        .isInstanceOfSatisfying(HypervisorException.class, e -> assertThat(e.code()).isEqualTo("SOURCE_UNSUPPORTED"))
        .hasMessageContaining("file://<server>/<share>/<file>");
  }

  @Test
  void aShareThatSpeaksSmb3TakesVolumesAndAnOlderDialectIsRefusedWithTheFix() {
    Volume onShare = driver.createVolume(host, volume(pool("\\\\fs3\\vms\\cluster"), "d", 64 * MIB));
    assertThat(onShare.path()).isEqualTo("\\\\fs3\\vms\\cluster\\d.vhdx");

    assertThatThrownBy(() -> driver.createVolume(host, volume(pool("\\\\fs2\\old"), "d", 64 * MIB)))
        .isInstanceOfSatisfying(HypervisorException.class, e -> assertThat(e.code()).isEqualTo("SMB_DIALECT"))
        .hasMessage("share \\\\fs2\\old speaks SMB 2.1 to hv-1; Hyper-V keeps VM files only on SMB 3.0 or later:"
            + " upgrade the file server or point the StorageClass's parameters.path at another share");
    assertThat(hyperV.filePaths()).noneMatch(p -> p.startsWith("\\\\fs2"));

    assertThatThrownBy(() -> driver.createVolume(host, volume(pool("\\\\nowhere\\vms"), "d", 64 * MIB)))
        .isInstanceOfSatisfying(HypervisorException.class, e -> assertThat(e.code()).isEqualTo("SMB_UNREACHABLE"))
        .hasMessageContaining("no SMB connection to \\\\nowhere\\vms");
  }

  @Test
  void migrationIsRefusedAndSaysSo() {
    assertThatThrownBy(() -> driver.migrate(host, new Host("hv-2", "https://hv-2:5986/wsman"), "uid", null))
        .isInstanceOfSatisfying(HypervisorException.class, e -> assertThat(e.code()).isEqualTo("NOT_SUPPORTED"))
        .hasMessageContaining("stays on hv-1");
  }

  private static GuestId id(String name) {
    return new GuestId("prod", name, UUID.randomUUID().toString());
  }

  private static GuestSpec spec(GuestId id, String revision, GuestMemory memory, List<Volume> disks) {
    return new GuestSpec(id, revision, 2, memory, NumaPlacement.None,
        disks.stream().map(v -> new GuestDisk(v.name(), v.path(), "vhdx", Optional.empty())).toList(),
        List.of(), Optional.empty(), Optional.empty());
  }

  private static StoragePoolSpec local() {
    return pool("C:\\VMs");
  }

  private static StoragePoolSpec pool(String path) {
    return StoragePoolSpec.fromParameters("hv", Map.of("path", path));
  }

  private static VolumeSpec volume(StoragePoolSpec pool, String name, long bytes) {
    return new VolumeSpec(pool, name.equals("root") ? "prod_web_root" : name, bytes, Optional.empty());
  }
}
