package io.polyvisor.driver.hyperv;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.polyvisor.api.v1alpha1.NumaPlacement;
import io.polyvisor.api.v1alpha1.SecureBoot;
import io.polyvisor.driver.MemoryChange;
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
import io.polyvisor.driver.MigrationJob;
import io.polyvisor.driver.MigrationOptions;
import io.polyvisor.driver.MigrationResult;
import io.polyvisor.testing.hyperv.HyperVNetwork;
import io.polyvisor.testing.hyperv.SimulatedHyperVHost;
import io.polyvisor.testing.hyperv.TestCertificate;
import io.polyvisor.testing.hyperv.WinRmSimulator;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The Hyper-V driver against the WinRM simulator (no Windows host is reachable from here). */
class HyperVDriverTest {

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
    network = new HyperVNetwork();
    hyperV = new SimulatedHyperVHost(network, "HV1", 4096 * MIB, 8)
        .folder("C:\\VMs").virtualSwitch("External")
        .share("\\\\fs3\\vms", "3.02").folder("\\\\fs3\\vms\\cluster").share("\\\\fs2\\old", "2.1")
        .file("C:\\Images\\base.vhdx", 700 * MIB);
    peer = new SimulatedHyperVHost(network, "HV2", 4096 * MIB, 8).folder("C:\\VMs").share("\\\\fs3\\vms", "3.02");
    simulator = new WinRmSimulator(hyperV, "admin", "s3cret", certificate.keyStore());
    peerSimulator = new WinRmSimulator(peer, "admin", "s3cret", certificate.keyStore());
    driver = newDriver();
    host = new Host("hv-1", simulator.endpoint().toString());
    peerHost = new Host("hv-2", peerSimulator.endpoint().toString());
  }

  private static HyperVDriver newDriver() {
    return new HyperVDriver(h -> new WinRmCredentials("admin", "s3cret", Optional.of(certificate.pem())));
  }

  @AfterEach
  void stop() {
    driver.close();
    simulator.close();
    peerSimulator.close();
  }

  @Test
  void aDefinedGuestHasItsMemoryAlignedItsDisksAndItsIdentityInTheNotes() {
    Volume disk = driver.createVolume(host, volume(local(), "root", 1024 * MIB));
    GuestSpec spec = spec(id("web"), "rev-1", new GuestMemory(301 * MIB, 1023 * MIB, 129 * MIB, true, 35, 80), List.of(disk));

    GuestInfo defined = driver.define(host, spec);

    assertThat(defined.id()).isEqualTo(spec.id());
    assertThat(defined.state()).isEqualTo(GuestState.SHUT_OFF);
    assertThat(defined.revision()).isEqualTo("rev-1");
    Map<String, Object> vm = hyperV.propertiesOf("prod_web").orElseThrow();
    assertThat(vm).containsEntry("Generation", 2).containsEntry("ProcessorCount", 2L)
        .containsEntry("DynamicMemoryEnabled", true)
        .containsEntry("MemoryStartup", 302 * MIB).containsEntry("MemoryMinimum", 130 * MIB)
        .containsEntry("MemoryMaximum", 1024 * MIB);
    assertThat(hyperV.memoryOf("prod_web").orElseThrow()).containsEntry("Buffer", 35L).containsEntry("Priority", 80L);
    assertThat((String) vm.get("Notes")).contains("polyvisor.io/uid=" + spec.id().uid());
    assertThat(hyperV.disksOf("prod_web")).containsExactly("C:\\VMs\\prod_web_root.vhdx");
    assertThat(driver.list(host)).extracting(GuestInfo::id).containsExactly(spec.id());
  }

  @Test
  void startShutdownAndTurnOffFollowTheGuest() {
    // A guest OS to ask: one booted from a disk (the integration services are the guest's).
    Volume root = driver.createVolume(host, volume(local(), "db-root", 64 * MIB));
    GuestSpec spec = spec(id("db"), "r", GuestMemory.fixed(1024 * MIB), List.of(root));
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
  void theStateOfAVmIsAnEnumThatJsonPrintsAsANumberSoTheDriverReadsItsName() {
    GuestSpec spec = spec(id("enum"), "r", GuestMemory.fixed(512 * MIB), List.of());
    driver.define(host, spec);
    driver.start(host, spec.id().uid());

    String raw = driver.run(host, "Get-VM -Name prod_enum | Select-Object Name,State | ConvertTo-Json -Compress", "read").stdout();

    assertThat(raw.strip()).as("as Windows PowerShell 5.1 prints an enum").isEqualTo("{\"Name\":\"prod_enum\",\"State\":2}");
    assertThat(driver.find(host, spec.id().uid())).map(GuestInfo::state).contains(GuestState.RUNNING);
  }

  @Test
  void everyHyperVStateNameBecomesTheGuestStateItMeans() {
    Map<String, GuestState> expected = Map.ofEntries(
        Map.entry("Running", GuestState.RUNNING), Map.entry("Starting", GuestState.RUNNING),
        Map.entry("Reset", GuestState.RUNNING), Map.entry("Resuming", GuestState.RUNNING),
        Map.entry("Paused", GuestState.PAUSED), Map.entry("Pausing", GuestState.PAUSED),
        Map.entry("Stopping", GuestState.SHUTTING_DOWN), Map.entry("Saving", GuestState.SHUTTING_DOWN),
        Map.entry("FastSaving", GuestState.SHUTTING_DOWN),
        Map.entry("Saved", GuestState.SAVED), Map.entry("FastSaved", GuestState.SAVED),
        Map.entry("Off", GuestState.SHUT_OFF),
        Map.entry("RunningCritical", GuestState.RUNNING), Map.entry("PausedCritical", GuestState.PAUSED),
        Map.entry("SavedCritical", GuestState.SAVED), Map.entry("OffCritical", GuestState.SHUT_OFF),
        Map.entry("ForceShutdown", GuestState.SHUTTING_DOWN), Map.entry("ForceReboot", GuestState.RUNNING),
        Map.entry("Hibernated", GuestState.UNKNOWN), Map.entry("ComponentServicing", GuestState.UNKNOWN),
        Map.entry("Other", GuestState.UNKNOWN), Map.entry("", GuestState.UNKNOWN));

    expected.forEach((name, state) -> assertThat(HyperVDriver.state(name)).as(name).isEqualTo(state));
  }

  @Test
  void aSavedGuestIsReportedSavedHoldsNoMemoryAndIsResumedByStart() {
    GuestSpec spec = running("nap", volume(local(), "nap-root", 64 * MIB));
    long freeWhileRunning = driver.capacity(host).freeMemoryBytes();

    onHost("Save-VM", "prod_nap");

    assertThat(hyperV.stateOf("prod_nap")).contains("Saved");
    assertThat(driver.find(host, spec.id().uid())).map(GuestInfo::state).contains(GuestState.SAVED);
    assertThat(driver.capacity(host).freeMemoryBytes() - freeWhileRunning).isEqualTo(256 * MIB);

    driver.start(host, spec.id().uid());

    assertThat(hyperV.stateOf("prod_nap")).contains("Running");
    assertThat(driver.find(host, spec.id().uid())).map(GuestInfo::state).contains(GuestState.RUNNING);
    assertThat(simulator.scripts()).as("booted, then resumed").filteredOn(s -> s.contains("Start-VM")).hasSize(2);
  }

  @Test
  void aPausedGuestIsReportedPausedAndStartLeavesItToResumeVm() {
    GuestSpec spec = running("held", volume(local(), "held-root", 64 * MIB));
    long freeWhileRunning = driver.capacity(host).freeMemoryBytes();

    onHost("Suspend-VM", "prod_held");

    assertThat(driver.find(host, spec.id().uid())).map(GuestInfo::state).contains(GuestState.PAUSED);
    assertThat(driver.capacity(host).freeMemoryBytes()).as("a paused guest keeps its memory").isEqualTo(freeWhileRunning);
    driver.start(host, spec.id().uid());
    assertThat(hyperV.stateOf("prod_held")).as("powered on already").contains("Paused");

    onHost("Resume-VM", "prod_held");
    assertThat(driver.find(host, spec.id().uid())).map(GuestInfo::state).contains(GuestState.RUNNING);
  }

  @Test
  void pauseAndResumeUseSuspendVmAndResumeVmAndLeaveOtherStatesAlone() {
    GuestSpec spec = running("frozen", volume(local(), "frozen-root", 64 * MIB));
    String uid = spec.id().uid();

    driver.pause(host, uid);
    assertThat(hyperV.stateOf("prod_frozen")).contains("Paused");
    driver.pause(host, uid);
    assertThat(simulator.scripts()).as("a paused guest is not suspended again").filteredOn(s -> s.contains("Suspend-VM")).hasSize(1);

    driver.resume(host, uid);
    assertThat(hyperV.stateOf("prod_frozen")).contains("Running");
    driver.resume(host, uid);
    assertThat(simulator.scripts()).as("a running guest is not resumed").filteredOn(s -> s.contains("Resume-VM")).hasSize(1);

    onHost("Save-VM", "prod_frozen");
    driver.resume(host, uid);
    driver.pause(host, uid);
    assertThat(hyperV.stateOf("prod_frozen")).as("a saved guest is resumed by Start-VM only").contains("Saved");
    assertThatThrownBy(() -> driver.pause(host, "no-such-uid")).isInstanceOf(io.polyvisor.driver.GuestNotFoundException.class);
  }

  @Test
  void aGuestHyperVPausedForLostStorageIsReportedPausedAndNotResumed() {
    GuestSpec spec = running("stranded", volume(local(), "stranded-root", 64 * MIB));
    hyperV.loseStorageOf("prod_stranded");

    assertThat(driver.find(host, spec.id().uid())).map(GuestInfo::state).contains(GuestState.PAUSED);
    assertThatThrownBy(() -> driver.resume(host, spec.id().uid()))
        .hasMessageContaining("is PausedCritical: Hyper-V paused it because its storage cannot be reached");
    assertThat(hyperV.stateOf("prod_stranded")).contains("PausedCritical");
    assertThat(simulator.scripts()).noneMatch(s -> s.contains("Resume-VM"));
  }

  @Test
  void aSavedGuestKeepsItsConfigurationIsNotCutOffAndIsUndefinedWithItsSavedState() {
    GuestSpec spec = running("keep", volume(local(), "keep-root", 64 * MIB));
    onHost("Save-VM", "prod_keep");
    GuestSpec changed = new GuestSpec(spec.id(), "r2", 4, GuestMemory.fixed(512 * MIB), NumaPlacement.None,
        spec.disks(), List.of(), Optional.empty(), Optional.empty());

    assertThat(driver.define(host, changed).revision()).as("applied once it is off").isEqualTo("r");
    assertThat(hyperV.propertiesOf("prod_keep").orElseThrow()).containsEntry("ProcessorCount", 2L)
        .containsEntry("MemoryStartup", 256 * MIB);
    assertThat(driver.shutdown(host, spec.id().uid(), Duration.ofSeconds(5))).as("no guest OS runs to ask").isTrue();
    driver.forceStop(host, spec.id().uid());
    assertThat(hyperV.stateOf("prod_keep")).contains("Saved");

    driver.undefine(host, spec.id().uid());

    assertThat(hyperV.vmNames()).isEmpty();
    assertThat(hyperV.filePaths()).as("disks stay").contains("c:\\vms\\keep-root.vhdx");
  }

  @Test
  void theSimulatedHostRefusesWhatAVmsStateDoesNotAllow() {
    GuestSpec spec = spec(id("strict"), "r", GuestMemory.fixed(256 * MIB), List.of());
    driver.define(host, spec);
    String invalid = "The operation cannot be performed while the object is in its current state.";

    for (String cmdlet : List.of("Save-VM", "Suspend-VM", "Resume-VM", "Remove-VMSavedState")) {
      assertThatThrownBy(() -> onHost(cmdlet, "prod_strict")).as(cmdlet + " of a VM that is off").hasMessageContaining(invalid);
    }
    driver.start(host, spec.id().uid());
    onHost("Suspend-VM", "prod_strict");
    assertThatThrownBy(() -> onHost("Start-VM", "prod_strict")).as("Start-VM of a paused VM").hasMessageContaining(invalid);
    onHost("Save-VM", "prod_strict");
    assertThat(hyperV.stateOf("prod_strict")).as("a paused VM can be saved").contains("Saved");
    assertThatThrownBy(() -> onHost("Suspend-VM", "prod_strict")).hasMessageContaining(invalid);
    assertThatThrownBy(() -> onHost("Stop-VM", "prod_strict", "-TurnOff")).hasMessageContaining(invalid);
    assertThatThrownBy(() -> onHost("Set-VM", "prod_strict", "-ProcessorCount 4"))
        .hasMessageContaining("Failed to modify device 'Processor'");
    assertThatThrownBy(() -> onHost("Set-VMMemory", "prod_strict", "-StartupBytes 1073741824"))
        .hasMessageContaining("Failed to modify device 'Memory'");

    onHost("Remove-VMSavedState", "prod_strict");
    assertThat(hyperV.stateOf("prod_strict")).contains("Off");
  }

  @Test
  void aStaticGuestIsDefinedWithoutTheDynamicMemorySettingsThatARealHostRefusesForIt() {
    // Defined, then defined again as Dynamic, then as Static again: each time the host takes it.
    GuestSpec fixed = spec(id("mem"), "r1", GuestMemory.fixed(512 * MIB), List.of());
    driver.define(host, fixed);
    GuestSpec dynamic = spec(fixed.id(), "r2", new GuestMemory(512 * MIB, 1024 * MIB, 256 * MIB, true), List.of());
    driver.define(host, dynamic);
    driver.define(host, spec(fixed.id(), "r3", GuestMemory.fixed(768 * MIB), List.of()));

    assertThat(driver.find(host, fixed.id().uid())).map(GuestInfo::revision).contains("r3");
    assertThat(driver.find(host, fixed.id().uid())).map(GuestInfo::maximumMemoryBytes).contains(768 * MIB);
    // What the simulated host refuses, as a real one does.
    assertThatThrownBy(() -> onHost("Set-VMMemory", "prod_mem", "-MinimumBytes 268435456"))
        .hasMessageContaining("Setting maximum, minimum, and buffer settings requires Dynamic Memory to be enabled.")
        .as("the host's message, unwrapped, without PowerShell's position and category lines")
        .hasMessageNotContainingAny("At line:", "CategoryInfo", "FullyQualifiedErrorId", "~~~");
    assertThatThrownBy(() -> onHost("Set-VMMemory", "prod_mem", "-Buffer 20"))
        .hasMessageContaining("requires Dynamic Memory to be enabled");
  }

  @Test
  void aSavedGuestThatNoLongerFitsIsNotResumed() {
    GuestSpec spec = running("late", volume(local(), "late-root", 64 * MIB));
    onHost("Save-VM", "prod_late");
    GuestSpec big = spec(id("big"), "r", GuestMemory.fixed(3900 * MIB), List.of());
    driver.define(host, big);
    driver.start(host, big.id().uid());

    assertThatThrownBy(() -> driver.start(host, spec.id().uid()))
        .isInstanceOf(HypervisorException.class)
        .hasMessageContaining("Not enough memory in the system to start the virtual machine prod_late");
    assertThat(hyperV.stateOf("prod_late")).contains("Saved");
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
  void aLinuxGuestBootsUnderTheDefaultSecureBootThatHyperVsOwnTemplateRefuses() {
    Volume root = driver.createVolume(host, volume(local(), "linux-root", 64 * MIB));
    GuestSpec linux = spec(id("linux"), "r", GuestMemory.fixed(256 * MIB), List.of(root));
    driver.define(host, linux);
    driver.start(host, linux.id().uid());

    assertThat(hyperV.secureBootOf("prod_linux")).contains("MicrosoftUEFICertificateAuthority");
    assertThat(hyperV.bootedFrom("prod_linux")).as("the shim is signed by the UEFI CA").contains(root.path());

    Volume other = driver.createVolume(host, volume(local(), "win-root", 64 * MIB));
    GuestSpec windowsTemplate = withSecureBoot(spec(id("win"), "r", GuestMemory.fixed(256 * MIB), List.of(other)),
        SecureBoot.MicrosoftWindows);
    driver.define(host, windowsTemplate);
    driver.start(host, windowsTemplate.id().uid());
    assertThat(hyperV.bootedFrom("prod_win")).as("a Linux loader under the Windows template: the image is not allowed").isEmpty();
    driver.forceStop(host, windowsTemplate.id().uid());
    hyperV.installWindows("prod_win");
    driver.start(host, windowsTemplate.id().uid());
    assertThat(hyperV.bootedFrom("prod_win")).as("Windows under its own template").contains(other.path());

    driver.forceStop(host, windowsTemplate.id().uid());
    driver.define(host, withSecureBoot(windowsTemplate, SecureBoot.Off));
    assertThat(hyperV.secureBootOf("prod_win")).contains("Off");
  }

  @Test
  void theFirmwareBootsTheDisksInTheirBootOrderAndNeverTheNetworkFirst() {
    hyperV.virtualSwitch("External");
    Volume data = driver.createVolume(host, volume(local(), "order-data", 64 * MIB));
    Volume root = driver.createVolume(host, volume(local(), "order-root", 64 * MIB));
    GuestSpec spec = new GuestSpec(id("order"), "r", 1, GuestMemory.fixed(256 * MIB), NumaPlacement.None,
        List.of(new GuestDisk("data", data.path(), "vhdx", Optional.of(2)), new GuestDisk("root", root.path(), "vhdx", Optional.of(1))),
        List.of(new GuestNic("eth0", "External")), Optional.empty(), Optional.empty());

    driver.define(host, spec);
    driver.start(host, spec.id().uid());

    assertThat(hyperV.bootOrderOf("prod_order")).containsExactly("disk:" + root.path(), "disk:" + data.path());
    assertThat(hyperV.bootedFrom("prod_order")).contains(root.path());

    GuestSpec unordered = spec(id("plain"), "r", GuestMemory.fixed(256 * MIB), List.of(data));
    driver.define(host, new GuestSpec(unordered.id(), "r", 1, unordered.memory(), NumaPlacement.None, unordered.disks(),
        List.of(new GuestNic("eth0", "External")), Optional.empty(), Optional.empty()));
    assertThat(hyperV.bootOrderOf("prod_plain")).as("no bootOrder: the disks as listed, no PXE")
        .containsExactly("disk:" + data.path());
  }

  @Test
  void strictNumaNeedsAHostThatKeepsVmsOffOtherNumaNodes() {
    GuestSpec strict = new GuestSpec(id("numa"), "r", 2, GuestMemory.fixed(256 * MIB), NumaPlacement.Strict, List.of(),
        List.of(), Optional.empty(), Optional.empty());

    assertThatThrownBy(() -> driver.define(host, strict)).isInstanceOfSatisfying(HypervisorException.class, e -> {
      assertThat(e.code()).isEqualTo("NUMA_SPANNING");
      assertThat(e.getMessage()).contains("hv-1", "Set-VMHost -NumaSpanningEnabled $false", "memory.numa to Preferred");
    });
    assertThat(hyperV.vmNames()).as("nothing defined").isEmpty();

    hyperV.numaSpanning(false);
    assertThat(driver.define(host, strict).state()).isEqualTo(GuestState.SHUT_OFF);
    assertThat(hyperV.vmNames()).containsExactly("prod_numa");
  }

  @Test
  void aRunningDynamicGuestTakesItsBufferPriorityALowerMinimumAndAHigherMaximumAndTheRestWaits() {
    Volume root = driver.createVolume(host, volume(local(), "dm-root", 64 * MIB));
    GuestSpec spec = spec(id("dm"), "r", new GuestMemory(512 * MIB, 1024 * MIB, 256 * MIB, true, 20, 50), List.of(root));
    driver.define(host, spec);
    driver.start(host, spec.id().uid());
    GuestInfo running = driver.find(host, spec.id().uid()).orElseThrow();
    assertThat(running.memorySettings()).contains(spec.memory());
    assertThat(driver.memoryChange(running, spec.memory())).as("as wanted").isEqualTo(MemoryChange.NONE);

    GuestMemory wider = new GuestMemory(512 * MIB, 2047 * MIB, 127 * MIB, true, 40, 70);
    MemoryChange change = driver.memoryChange(running, wider);
    assertThat(change.atNextBoot()).isEmpty();
    driver.changeMemory(host, spec.id().uid(), change.live().orElseThrow());

    assertThat(hyperV.stateOf("prod_dm")).contains("Running");
    assertThat(hyperV.memoryOf("prod_dm").orElseThrow()).containsEntry("Minimum", 128 * MIB).containsEntry("Maximum", 2048 * MIB)
        .containsEntry("Buffer", 40L).containsEntry("Priority", 70L).containsEntry("Startup", 512 * MIB);
    GuestInfo widened = driver.find(host, spec.id().uid()).orElseThrow();
    assertThat(driver.memoryChange(widened, wider)).as("rounded to 2 MiB as the host keeps it: nothing left").isEqualTo(MemoryChange.NONE);

    GuestMemory narrower = new GuestMemory(768 * MIB, 1536 * MIB, 384 * MIB, true, 40, 70);
    MemoryChange waits = driver.memoryChange(widened, narrower);
    assertThat(waits.live()).as("nothing of it can change while the guest runs").isEmpty();
    assertThat(waits.atNextBoot()).containsExactly(
        "minimum 128Mi → 384Mi: it can only go down while the guest runs",
        "maximum 2Gi → 1.5Gi: it can only go up while the guest runs",
        "startup memory 512Mi → 768Mi: the guest gets it at boot");
    assertThatThrownBy(() -> driver.changeMemory(host, spec.id().uid(), new GuestMemory(512 * MIB, 2048 * MIB, 384 * MIB, true, 40, 70)))
        .as("the host refuses a minimum up on a running guest").hasMessageContaining("minimum memory can only decrease");

    driver.forceStop(host, spec.id().uid());
    driver.define(host, spec(spec.id(), "r", narrower, List.of(root)));
    assertThat(hyperV.memoryOf("prod_dm").orElseThrow()).containsEntry("Minimum", 384 * MIB).containsEntry("Maximum", 1536 * MIB)
        .containsEntry("Startup", 768 * MIB);
  }

  @Test
  void aMoveWhoseFinishedJobTheHostHasRemovedIsJudgedByWhereTheGuestRuns() throws Exception {
    hyperV.enableMigration().migrationJobRetention(Duration.ofMillis(200));
    peer.enableMigration();
    GuestSpec spec = running("gone", volume(pool("\\\\fs3\\vms"), "gone-root", 64 * MIB));
    driver.migrate(host, peerHost, spec.id().uid(), new MigrationOptions(true, 0, false, false, false));
    await().atMost(Duration.ofSeconds(20)).until(() -> !hyperV.migrationJobStates("prod_gone").isEmpty());
    driver.close(); // as an operator that died before the move ended
    await().atMost(Duration.ofSeconds(20)).until(() -> peer.stateOf("prod_gone").isPresent());
    Thread.sleep(400); // past the host's retention

    driver = newDriver();
    assertThat(hyperV.migrationJobStates("prod_gone")).as("the host removed the finished job").isEmpty();
    assertThat(driver.reattach(host, peerHost, spec.id().uid())).as("no job: the guest has left").isEmpty();
    assertThat(driver.find(peerHost, spec.id().uid())).map(GuestInfo::state).contains(GuestState.RUNNING);
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
  void aCreationCutShortIsOursAndIsFinishedByTheNextDefinition() {
    GuestSpec spec = new GuestSpec(id("half"), "rev-1", 2, GuestMemory.fixed(256 * MIB), NumaPlacement.None, List.of(),
        List.of(new GuestNic("eth0", "Internal")), Optional.empty(), Optional.empty());

    assertThatThrownBy(() -> driver.define(host, spec)).hasMessageContaining("Unable to find a virtual switch with name \"Internal\"");
    assertThat(driver.find(host, spec.id().uid())).as("found by its uid, not yet configured")
        .map(GuestInfo::revision).contains("");

    hyperV.virtualSwitch("Internal");
    assertThat(driver.define(host, spec).revision()).isEqualTo("rev-1");
    assertThat(hyperV.vmNames()).containsExactly("prod_half");
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
  void aGuestOnAShareLiveMigratesWithItsMemoryOnlyAndRunsOnOneHostAtEveryStep() throws Exception {
    hyperV.enableMigration();
    peer.enableMigration();
    network.migrationBandwidth(64 * MIB); // 256 MiB: 4 s, long enough for a poll to see it under way
    GuestSpec spec = running("shared", volume(pool("\\\\fs3\\vms"), "shared-root", 64 * MIB));
    List<String> seen = new java.util.concurrent.CopyOnWriteArrayList<>();

    MigrationJob job = driver.migrate(host, peerHost, spec.id().uid(), new MigrationOptions(true, 0, false, false, false));
    while (!job.completion().isDone()) {
      job.progress().ifPresent(p -> seen.add(p.percent() + "%"));
      seen.add("on " + network.hostsRunning("prod_shared"));
      Thread.sleep(100);
    }
    MigrationResult result = job.completion().get();

    assertThat(result.finalProgress().percent()).isEqualTo(100);
    assertThat(seen).as("progress between 0 and 100 was reported").anyMatch(s -> s.matches("[1-9][0-9]?%"));
    assertThat(seen).as("on exactly one host at every instant").filteredOn(s -> s.startsWith("on "))
        .containsOnly("on [HV1]", "on [HV2]").contains("on [HV1]");
    assertThat(hyperV.vmNames()).isEmpty();
    assertThat(peer.stateOf("prod_shared")).contains("Running");
    assertThat(peer.disksOf("prod_shared")).containsExactly("\\\\fs3\\vms\\shared-root.vhdx");
    assertThat(driver.find(peerHost, spec.id().uid())).map(GuestInfo::state).contains(GuestState.RUNNING);
  }

  @Test
  void followingAMoveStartsOneHostProcessPerPollInterval() throws Exception {
    hyperV.enableMigration();
    peer.enableMigration();
    network.migrationBandwidth(32 * MIB); // 256 MiB: 8 s
    GuestSpec spec = running("watched", volume(pool("\\\\fs3\\vms"), "watched-root", 64 * MIB));
    int before = simulator.scripts().size();
    long started = System.nanoTime();

    MigrationJob job = driver.migrate(host, peerHost, spec.id().uid(), new MigrationOptions(true, 0, false, false, false));
    job.completion().get(60, TimeUnit.SECONDS);

    double seconds = (System.nanoTime() - started) / 1e9;
    long reads = simulator.scripts().subList(before, simulator.scripts().size()).stream()
        .filter(script -> script.contains("Msvm_MigrationJob")).count();
    // Every script is a powershell.exe on the source host: the floor is one read at the start
    // (the jobs there before) and one per poll interval.
    double floor = 1 + seconds / HyperVMigration.POLL.toSeconds();
    System.out.printf("following a %.1f s Hyper-V move: %d job reads, %.2f per second, %.2f x the floor of one per %d s%n",
        seconds, reads, reads / seconds, reads / floor, HyperVMigration.POLL.toSeconds());
    assertThat(job.progress()).as("progress was still read").isPresent();
    assertThat(reads).as("job reads in %.1f s", seconds).isLessThanOrEqualTo((long) Math.ceil(floor) + 1);
  }

  @Test
  void aGuestOnLocalDisksMovesWithItsFilesIntoTheSameFolder() throws Exception {
    hyperV.enableMigration();
    peer.enableMigration();
    GuestSpec spec = running("local", volume(local(), "local-root", 64 * MIB));

    driver.migrate(host, peerHost, spec.id().uid(), new MigrationOptions(false, 0, false, false, false)).completion().get();

    assertThat(peer.disksOf("prod_local")).containsExactly("C:\\VMs\\local-root.vhdx");
    assertThat(peer.filePaths()).contains("c:\\vms\\local-root.vhdx");
    assertThat(hyperV.filePaths()).doesNotContain("c:\\vms\\local-root.vhdx");
  }

  @Test
  void anAbortedMigrationLeavesTheGuestRunningOnTheSource() throws Exception {
    hyperV.enableMigration();
    peer.enableMigration();
    network.migrationBandwidth(16 * MIB); // 256 MiB: 16 s
    GuestSpec spec = running("stay", volume(pool("\\\\fs3\\vms"), "stay-root", 64 * MIB));
    MigrationJob job = driver.migrate(host, peerHost, spec.id().uid(), new MigrationOptions(true, 0, false, false, false));
    await().atMost(Duration.ofSeconds(10)).until(() -> job.progress().map(p -> p.percent() > 0).orElse(false));

    job.abort();

    assertThatThrownBy(() -> job.completion().get(20, TimeUnit.SECONDS)).cause()
        .isInstanceOf(HypervisorException.class).hasMessageContaining("The operation was cancelled by the user.");
    assertThat(hyperV.stateOf("prod_stay")).contains("Running");
    assertThat(peer.vmNames()).isEmpty();
  }

  @Test
  void anAbortBeforeTheJobRunsCancelsItInWhicheverStateItIs() throws Exception {
    hyperV.enableMigration().migrationJobStartup(Duration.ofSeconds(4)); // New for 2 s, Starting for 2 s
    peer.enableMigration();
    GuestSpec spec = running("early", volume(pool("\\\\fs3\\vms"), "early-root", 64 * MIB));
    GuestSpec other = running("earlier", volume(pool("\\\\fs3\\vms"), "earlier-root", 64 * MIB));

    // At once: Move-VM has not made its job yet, which is cancelled as soon as it shows.
    MigrationJob beforeTheJob = driver.migrate(host, peerHost, spec.id().uid(), new MigrationOptions(true, 0, false, false, false));
    beforeTheJob.abort();
    // Once the job is listed, New or Starting: cancelled there and then.
    MigrationJob starting = driver.migrate(host, peerHost, other.id().uid(), new MigrationOptions(true, 0, false, false, false));
    await().atMost(Duration.ofSeconds(10)).until(() -> hyperV.migrationJobStates("prod_earlier").stream().anyMatch(s -> s == 2 || s == 3));
    starting.abort();

    for (MigrationJob job : List.of(beforeTheJob, starting)) {
      assertThatThrownBy(() -> job.completion().get(20, TimeUnit.SECONDS)).cause()
          .isInstanceOf(HypervisorException.class).hasMessageContaining("The operation was cancelled by the user.");
    }
    assertThat(hyperV.stateOf("prod_early")).contains("Running");
    assertThat(hyperV.stateOf("prod_earlier")).contains("Running");
    assertThat(peer.vmNames()).isEmpty();
  }

  @Test
  void anAbortTheHostRefusesSaysSoWithItsCode() throws Exception {
    hyperV.enableMigration();
    peer.enableMigration();
    network.migrationBandwidth(16 * MIB);
    GuestSpec spec = running("late", volume(pool("\\\\fs3\\vms"), "late-root", 64 * MIB));
    MigrationJob job = driver.migrate(host, peerHost, spec.id().uid(), new MigrationOptions(true, 0, false, false, false));
    await().atMost(Duration.ofSeconds(10)).until(() -> job.progress().map(p -> p.percent() > 0).orElse(false));
    hyperV.refuseMigrationCancels();

    assertThatThrownBy(job::abort).isInstanceOfSatisfying(HypervisorException.class, e -> assertThat(e.code()).isEqualTo("ABORT_REFUSED"))
        .hasMessageContaining("RequestStateChange returned 32775 (invalid state for this operation)");
  }

  @Test
  void aGuestAskedToShutDownWithoutWaitingGoesDownByItself() {
    Volume root = driver.createVolume(host, volume(local(), "halt-root", 64 * MIB));
    GuestSpec spec = spec(id("halt"), "r", GuestMemory.fixed(512 * MIB), List.of(root));
    driver.define(host, spec);
    driver.start(host, spec.id().uid());

    assertThat(driver.shutdown(host, spec.id().uid(), Duration.ZERO)).as("asked, not waited for").isFalse();

    await().atMost(Duration.ofSeconds(10)).until(() -> hyperV.stateOf("prod_halt").orElseThrow().equals("Off"));
    assertThat(hyperV.guestShutdowns()).as("the guest shut itself down; its power was not cut").containsExactly("prod_halt");
  }

  @Test
  void aDestinationLostMidTransferFailsTheMigrationAndTheGuestStays() throws Exception {
    hyperV.enableMigration();
    peer.enableMigration();
    network.migrationBandwidth(16 * MIB);
    GuestSpec spec = running("lost", volume(pool("\\\\fs3\\vms"), "lost-root", 64 * MIB));
    MigrationJob job = driver.migrate(host, peerHost, spec.id().uid(), new MigrationOptions(true, 0, false, false, false));
    await().atMost(Duration.ofSeconds(10)).until(() -> job.progress().map(p -> p.percent() > 0).orElse(false));

    peer.disconnect();

    assertThatThrownBy(() -> job.completion().get(20, TimeUnit.SECONDS)).cause()
        .isInstanceOf(HypervisorException.class).hasMessageContaining("The migration connection to 'hv2.hv.test' was lost");
    assertThat(hyperV.stateOf("prod_lost")).contains("Running");
    assertThat(peer.vmNames()).isEmpty();
  }

  @Test
  void aDestinationThatDoesNotAcceptMigrationsIsNamedWithTheFix() {
    hyperV.enableMigration();
    GuestSpec spec = running("nowhere", volume(pool("\\\\fs3\\vms"), "nowhere-root", 64 * MIB));

    assertThatThrownBy(() -> driver.migrate(host, peerHost, spec.id().uid(), new MigrationOptions(true, 0, false, false, false)))
        .isInstanceOfSatisfying(HypervisorException.class, e -> assertThat(e.code()).isEqualTo("MIGRATION_DISABLED"))
        .hasMessageStartingWith("hv-2 does not accept live migrations; run Enable-VMMigration there");
    assertThat(hyperV.stateOf("prod_nowhere")).contains("Running");
  }

  @Test
  void aTransferThatOutlivesTheDriverThatStartedItIsFollowedByTheNextOne() throws Exception {
    hyperV.enableMigration();
    peer.enableMigration();
    network.migrationBandwidth(64 * MIB); // 256 MiB: 4 s
    GuestSpec spec = running("orphan", volume(pool("\\\\fs3\\vms"), "orphan-root", 64 * MIB));
    MigrationJob first = driver.migrate(host, peerHost, spec.id().uid(), new MigrationOptions(true, 0, false, false, false));
    await().atMost(Duration.ofSeconds(10)).until(() -> first.progress().map(p -> p.percent() > 0).orElse(false));

    driver.close(); // as an operator that died
    driver = newDriver();
    MigrationJob followed = driver.reattach(host, peerHost, spec.id().uid()).orElseThrow();

    assertThat(followed.completion().get(30, TimeUnit.SECONDS).finalProgress().percent()).isEqualTo(100);
    assertThat(peer.stateOf("prod_orphan")).contains("Running");
    assertThat(hyperV.vmNames()).isEmpty();
    assertThat(driver.reattach(host, peerHost, spec.id().uid())).as("nothing left to follow").isEmpty();
  }

  @Test
  void aStoppedGuestMovesWithItsFiles() {
    hyperV.enableMigration();
    peer.enableMigration();
    Volume disk = driver.createVolume(host, volume(local(), "cold-root", 64 * MIB));
    GuestSpec spec = spec(id("cold"), "r", GuestMemory.fixed(256 * MIB), List.of(disk));
    driver.define(host, spec);

    driver.moveStopped(host, peerHost, spec.id().uid(), false, p -> { });

    assertThat(peer.stateOf("prod_cold")).contains("Off");
    assertThat(peer.disksOf("prod_cold")).containsExactly("C:\\VMs\\cold-root.vhdx");
    assertThat(hyperV.vmNames()).isEmpty();
  }

  private GuestSpec running(String name, VolumeSpec root) {
    Volume disk = driver.createVolume(host, root);
    GuestSpec spec = spec(id(name), "r", GuestMemory.fixed(256 * MIB), List.of(disk));
    driver.define(host, spec);
    driver.start(host, spec.id().uid());
    return spec;
  }

  /** Runs a cmdlet on one VM of the host as an administrator at its console would. */
  private void onHost(String cmdlet, String vmName, String... parameters) {
    driver.run(host, "$vm = Get-VM -Name " + vmName + "\n" + cmdlet + " -VM $vm" + (parameters.length == 0 ? "" : " "
        + String.join(" ", parameters)), cmdlet + " " + vmName);
  }

  private static GuestSpec withSecureBoot(GuestSpec spec, SecureBoot secureBoot) {
    return new GuestSpec(spec.id(), spec.revision(), spec.cores(), spec.memory(), spec.numa(), spec.disks(), spec.nics(),
        spec.consoleLog(), spec.kernelBoot(), spec.cpuModel(), spec.cpuFeatures(), secureBoot);
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
