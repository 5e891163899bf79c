package io.polyvisor.migration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.MigrationMethod;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.api.v1alpha1.NumaPlacement;
import io.polyvisor.driver.GuestId;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestSpec;
import io.polyvisor.driver.GuestSpec.GuestMemory;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.MigrationMark;
import io.polyvisor.driver.MigrationOptions;
import io.polyvisor.driver.libvirt.LibvirtDriver;
import io.polyvisor.evacuation.EvacuationReconciler;
import io.polyvisor.testing.ApiFaultProxy;
import io.polyvisor.testing.CounterGuest;
import io.polyvisor.testing.KvmNodes;
import io.polyvisor.testing.NodeRegistration;
import io.polyvisor.testing.OperatorProcess;
import io.polyvisor.testing.RealApiServer;
import io.polyvisor.testing.TestManifests;
import io.polyvisor.testing.Virsh;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Live migration and evacuation end to end: the operator as its own process (so it can be
 * SIGKILLed), a real API server, three real libvirtd nodes and real QEMU guests whose serial
 * counters prove each guest kept running across its move.
 */
class MigrationIT {

  private static final String CLASS = "it-mig";
  private static final String STORAGE = "it-mig-local";
  private static final List<String> NODES = List.of("mig-1", "mig-2", "mig-3");

  @TempDir static Path work;
  private static KubernetesClient client;
  private static KvmNodes nodes;
  private static Path image;
  private static OperatorProcess operator;
  private static LibvirtDriver libvirt;
  private String namespace;

  @BeforeAll
  static void startEverything() throws Exception {
    client = RealApiServer.client();
    nodes = KvmNodes.start(work.resolve("nodes"), NODES.toArray(String[]::new));
    for (Host host : nodes.hosts()) {
      NodeRegistration.register(host, "1Gi", CLASS);
    }
    NodeRegistration.register(new Host("hv-1", "https://127.0.0.1:5986/wsman"), "8Gi", CLASS + "-hyperv");
    image = CounterGuest.build(work);
    client.resource(TestManifests.hypervisorClass(CLASS, "libvirt", "qemu+tcp://{node.address}/system")).serverSideApply();
    client.resource(TestManifests.hypervisorClass(CLASS + "-hyperv", "hyperv", "https://{node.address}:5986/wsman")).serverSideApply();
    client.resource(TestManifests.localStorageClass(STORAGE)).serverSideApply();
    libvirt = new LibvirtDriver();
    operator = startOperator();
  }

  @AfterAll
  static void stopEverything() {
    if (operator != null) {
      operator.close();
    }
    if (libvirt != null) {
      libvirt.close();
    }
    if (nodes != null) {
      nodes.close();
    }
  }

  @BeforeEach
  void namespace() {
    namespace = RealApiServer.newNamespace("mig");
  }

  @AfterEach
  void cleanUp() {
    for (String node : NODES) {
      cordon(node, false);
    }
    client.resources(VirtualMachine.class).inNamespace(namespace).delete();
    await().atMost(Duration.ofSeconds(90))
        .until(() -> client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems().isEmpty());
  }

  @Test
  void cordonedNodeIsEmptiedByLiveMigrationWithinTheParallelCaps() throws Exception {
    List<VirtualMachine> vms = vmsOn("mig-1", "a", "b", "c");

    Instant cordoned = Instant.now();
    cordon("mig-1", true);

    await().atMost(Duration.ofSeconds(180)).pollInterval(Duration.ofSeconds(1))
        .until(() -> "Completed".equals(evacuation("mig-1").map(NodeCondition::getReason).orElse("")));
    // The last moves succeed a moment before their VMs record the new node: not a blocked evacuation.
    assertThat(evacuationBlockedEventsSince("mig-1", cordoned)).isEmpty();
    for (VirtualMachine vm : vms) {
      VirtualMachine moved = get(vm);
      assertThat(moved.getStatus().phase).isEqualTo(VirtualMachinePhase.Running);
      assertThat(moved.getStatus().nodeName).isIn("mig-2", "mig-3");
      assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).as("nothing left on mig-1").isEmpty();
      assertThat(libvirt.find(nodes.host(moved.getStatus().nodeName), uid(vm))).map(GuestInfo::state).contains(GuestState.RUNNING);
      assertSerialContinues(vm);
    }
    assertThat(evacuation("mig-1").orElseThrow().getMessage()).isEqualTo("all 3 VMs moved; no VM of ours runs on mig-1");

    // parallelOutboundPerNode is 2: at no instant did three transfers overlap.
    List<VirtualMachineMigration> migrations = migrations();
    assertThat(migrations).hasSize(3).allSatisfy(m -> {
      assertThat(m.getStatus().phase).isEqualTo(MigrationPhase.Succeeded);
      assertThat(m.getSpec().reason.name()).isEqualTo("Evacuation");
      String vmUid = uid(vms.stream().filter(vm -> vm.getMetadata().getName().equals(m.getSpec().vmName)).findFirst().orElseThrow());
      assertThat(m.getMetadata().getLabels()).containsEntry(MigrationLabels.VM_UID, vmUid);
      assertThat(m.getMetadata().getOwnerReferences()).singleElement()
          .satisfies(owner -> assertThat(owner.getKind() + " " + owner.getName() + " " + owner.getUid())
              .isEqualTo("VirtualMachine " + m.getSpec().vmName + " " + vmUid));
      assertThat(m.getStatus().downtimeMillis).isNotNull();
      assertThat(m.getStatus().dataTotalBytes).isPositive();
    });
    assertThat(maxOverlap(migrations)).isLessThanOrEqualTo(2);
  }

  @Test
  void anOperatorRestartedDuringAnEvacuationFollowsItToTheEndWithoutCallingItBlocked() throws Exception {
    List<VirtualMachine> vms = vmsOn("mig-1", "r1", "r2", "r3");
    slowMigrations(4);
    try {
      Instant cordoned = Instant.now();
      cordon("mig-1", true);
      await().atMost(Duration.ofSeconds(30))
          .until(() -> migrations().stream().filter(m -> phaseOf(m) == MigrationPhase.Running).count() == 2);

      operator.kill();
      try {
        // The hosts carry the two transfers on to their end on their own (libvirt may also give one
        // up); the VMs' statuses and the migrations still say what the killed leader last wrote.
        await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofSeconds(1)).ignoreExceptions()
            .until(() -> vms.stream().noneMatch(vm -> libvirt.migrationMark(nodes.host("mig-1"), uid(vm)) == MigrationMark.JOB)
                && vms.stream().anyMatch(vm -> libvirt.find(nodes.host("mig-1"), uid(vm)).isEmpty()));
      } finally {
        slowMigrations(0);
        operator = startOperator();
      }

      await().atMost(Duration.ofSeconds(180)).pollInterval(Duration.ofSeconds(1))
          .until(() -> "Completed".equals(evacuation("mig-1").map(NodeCondition::getReason).orElse("")));
      assertThat(evacuation("mig-1").orElseThrow().getMessage()).isEqualTo("all 3 VMs moved; no VM of ours runs on mig-1");
      assertThat(evacuationBlockedEventsSince("mig-1", cordoned)).isEmpty();
      for (VirtualMachine vm : vms) {
        assertExactlyOneRunningCopyWhereStatusSays(vm);
        assertThat(get(vm).getStatus().nodeName).isIn("mig-2", "mig-3");
        assertSerialContinues(vm);
      }
    } finally {
      slowMigrations(0);
    }
  }

  @Test
  void manualMigrationGoesToTheNamedNode() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "manual").get(0);

    VirtualMachineMigration done = awaitEnd(migrate(vm, "mig-3"));

    assertThat(done.getStatus().phase).isEqualTo(MigrationPhase.Succeeded);
    assertThat(done.getStatus().sourceNode).isEqualTo("mig-1");
    assertThat(done.getStatus().targetNode).isEqualTo("mig-3");
    assertThat(done.getStatus().progressPercent).isEqualTo(100);
    await().atMost(Duration.ofSeconds(30)).until(() -> "mig-3".equals(get(vm).getStatus().nodeName));
    assertThat(libvirt.find(nodes.host("mig-3"), uid(vm))).map(GuestInfo::state).contains(GuestState.RUNNING);
    assertSerialContinues(vm);
  }

  @Test
  void migrationsToNodesThatCannotTakeTheVmAreRefusedWithAReason() {
    VirtualMachine vm = vmsOn("mig-1", "stay").get(0);

    VirtualMachineMigration nowhere = awaitEnd(migrate(vm, "mig-404"));
    assertThat(nowhere.getStatus().phase).isEqualTo(MigrationPhase.Failed);
    assertThat(nowhere.getStatus().message).isEqualTo("spec.targetNode mig-404 does not exist");

    VirtualMachineMigration acrossHypervisors = awaitEnd(migrate(vm, "hv-1"));
    assertThat(acrossHypervisors.getStatus().phase).isEqualTo(MigrationPhase.Failed);
    assertThat(acrossHypervisors.getStatus().message).isEqualTo(
        "spec.targetNode hv-1 does not serve HypervisorClass it-mig; a VM only migrates between nodes of its own class (never across hypervisors)");

    VirtualMachine hyperv = create(vmManifest("windows", CLASS + "-hyperv"));
    VirtualMachineMigration toKvm = awaitEnd(migrate(hyperv, "mig-2"));
    assertThat(toKvm.getStatus().phase).isEqualTo(MigrationPhase.Failed);
    assertThat(toKvm.getStatus().message).contains("does not serve HypervisorClass it-mig-hyperv").contains("never across hypervisors");

    assertThat(get(vm).getStatus().nodeName).isEqualTo("mig-1");
    assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).map(GuestInfo::state).contains(GuestState.RUNNING);
  }

  @Test
  void operatorKilledDuringTheTransferIsFollowedToItsEndByTheNextLeader() throws Exception {
    slowMigrations(1);
    try {
      VirtualMachine vm = vmsOn("mig-1", "crash-transfer").get(0);
      VirtualMachineMigration migration = migrate(vm, "mig-2");
      await().atMost(Duration.ofSeconds(30)).until(() -> phase(migration) == MigrationPhase.Running);

      operator.kill();
      try {
        // The source daemon runs the transfer peer to peer: it goes on without the operator.
        Thread.sleep(2000);
        assertThat(libvirt.migrationMark(nodes.host("mig-1"), uid(vm))).as("the job on mig-1").isEqualTo(MigrationMark.JOB);
        assertThat(libvirt.find(nodes.host("mig-2"), uid(vm))).as("the incoming copy on mig-2").isPresent();
      } finally {
        slowMigrations(0);
        operator = startOperator();
      }

      VirtualMachineMigration done = awaitEnd(migration);
      assertThat(done.getStatus().phase).as(done.getStatus().message).isEqualTo(MigrationPhase.Succeeded);
      await().atMost(Duration.ofSeconds(30)).until(() -> "mig-2".equals(get(vm).getStatus().nodeName));
      assertExactlyOneRunningCopyWhereStatusSays(vm);
      assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).as("nothing left on mig-1").isEmpty();
      assertThat(volumeFile("mig-1", vm)).as("the source's volume is deleted").doesNotExist();
      assertSerialContinues(vm);
    } finally {
      slowMigrations(0);
    }
  }

  @Test
  void operatorKilledBeforeTheTransferStartedFinishesTheMigration() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "crash-scheduling").get(0);
    operator.kill();
    // What a leader leaves when it dies right after recording the target (phase Scheduling).
    VirtualMachineMigration migration = migrate(vm, "mig-3");
    await().until(() -> client.resource(migration).get() != null);
    setStatus(migration, MigrationPhase.Scheduling, "mig-1", "mig-3");

    operator = startOperator();

    assertThat(awaitEnd(migration).getStatus().phase).isEqualTo(MigrationPhase.Succeeded);
    await().atMost(Duration.ofSeconds(30)).until(() -> "mig-3".equals(get(vm).getStatus().nodeName));
    assertExactlyOneRunningCopyWhereStatusSays(vm);
    assertSerialContinues(vm);
  }

  @Test
  void operatorKilledJustAfterTheSwitchOverRecordsTheMoveWithoutRestartingTheSource() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "crash-switchover").get(0);
    operator.kill();
    // What a leader leaves when it dies just after the switch-over, before recording it: the
    // guest runs on mig-2, the migration still says Running.
    VirtualMachineMigration migration = movedBehindTheOperatorsBack(vm, "mig-1", "mig-2", MigrationPhase.Running);

    operator = startOperator();

    VirtualMachineMigration done = awaitEnd(migration);
    assertThat(done.getStatus().phase).isEqualTo(MigrationPhase.Succeeded);
    await().atMost(Duration.ofSeconds(30)).until(() -> "mig-2".equals(get(vm).getStatus().nodeName));
    assertExactlyOneRunningCopyWhereStatusSays(vm);
    assertSerialContinues(vm);
  }

  @Test
  void aLeftoverCopyOnTheTargetIsRemovedAndTheMigrationFailsWithTheGuestKeptOnTheSource() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "leftover").get(0);
    operator.kill();
    // What an interrupted attempt leaves: a shut-off definition of the guest on the target, and
    // the migration recorded in Scheduling.
    defineCopy(vm, "mig-2");
    VirtualMachineMigration migration = migrate(vm, "mig-2");
    await().until(() -> client.resource(migration).get() != null);
    setStatus(migration, MigrationPhase.Scheduling, "mig-1", "mig-2");

    operator = startOperator();

    VirtualMachineMigration done = awaitEnd(migration);
    assertThat(done.getStatus().phase).isEqualTo(MigrationPhase.Failed);
    assertThat(done.getStatus().message).isEqualTo(
        "found a leftover copy on mig-2 from an interrupted attempt and removed it; the guest stays on mig-1");
    assertThat(libvirt.find(nodes.host("mig-2"), uid(vm))).isEmpty();
    assertExactlyOneRunningCopyWhereStatusSays(vm);
    assertSerialContinues(vm);
  }

  @Test
  void aGuestFoundOnNeitherHostAfterACrashFailsTheMigrationAndItsRunStrategyBringsItBack() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "vanished").get(0);
    operator.kill();
    // The leader died mid-transfer, and the guest is gone from both hosts meanwhile.
    VirtualMachineMigration migration = migrate(vm, "mig-2");
    await().until(() -> client.resource(migration).get() != null);
    setStatus(migration, MigrationPhase.Running, "mig-1", "mig-2");
    libvirt.forceStop(nodes.host("mig-1"), uid(vm));
    libvirt.undefine(nodes.host("mig-1"), uid(vm));

    operator = startOperator();

    VirtualMachineMigration done = awaitEnd(migration);
    assertThat(done.getStatus().phase).isEqualTo(MigrationPhase.Failed);
    assertThat(done.getStatus().message).startsWith("the guest runs on neither mig-1 nor mig-2");
    // runStrategy Always: the VM reconciler defines and starts it again, once.
    await().atMost(Duration.ofSeconds(60)).until(() -> NODES.stream()
        .anyMatch(n -> libvirt.find(nodes.host(n), uid(vm)).map(g -> g.state() == GuestState.RUNNING).orElse(false)));
    assertExactlyOneRunningCopyWhereStatusSays(vm);
  }

  @Test
  void vmsThatCannotMoveBlockTheEvacuationWhichResumesWhenRoomAppears() throws Exception {
    VirtualMachine stranded = vmsOn("mig-1", "stranded").get(0);
    VirtualMachine pinned = vmsOn("mig-1", name -> vmEvictedBy("None", name), "pinned").get(0);
    cordon("mig-2", true);
    cordon("mig-3", true);

    cordon("mig-1", true);

    await().atMost(Duration.ofSeconds(30)).until(() -> "Blocked".equals(evacuation("mig-1").map(NodeCondition::getReason).orElse("")));
    assertThat(evacuation("mig-1").orElseThrow().getMessage())
        .startsWith("0 of 2 VMs moved, 0 running, 0 queued, 2 blocked: ")
        .contains(namespace + "/pinned: evictionStrategy None")
        .contains(namespace + "/stranded: ");
    assertThat(migrations()).as("nothing to move them to, nothing tried").isEmpty();
    assertExactlyOneRunningCopyWhereStatusSays(stranded);

    cordon("mig-2", false); // room appears

    await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofSeconds(1))
        .until(() -> "mig-2".equals(get(stranded).getStatus().nodeName));
    assertExactlyOneRunningCopyWhereStatusSays(stranded);
    assertSerialContinues(stranded);
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(evacuation("mig-1").orElseThrow().getMessage())
        .isEqualTo("1 of 2 VMs moved, 0 running, 0 queued, 1 blocked: " + namespace + "/pinned: evictionStrategy None"));
    assertThat(get(pinned).getStatus().nodeName).isEqualTo("mig-1");

    client.resource(pinned).delete();

    await().atMost(Duration.ofSeconds(60)).until(() -> "Completed".equals(evacuation("mig-1").map(NodeCondition::getReason).orElse("")));
  }

  @Test
  void targetDaemonKilledMidMigrationIsWaitedForThenFailsKeepsTheGuestAndEvacuationRetries() throws Exception {
    slowMigrations(1);
    VirtualMachine vm = vmsOn("mig-1", "target-dies").get(0);
    cordon("mig-2", true); // so the target is mig-3
    cordon("mig-1", true);
    VirtualMachineMigration first = await().atMost(Duration.ofSeconds(30))
        .until(() -> migrations().stream().filter(m -> phaseOf(m) == MigrationPhase.Running).findFirst(), Optional::isPresent)
        .orElseThrow();
    assertThat(first.getStatus().targetNode).isEqualTo("mig-3");

    nodes.killDaemon("mig-3");
    try {
      // Whether mig-3 resumed the guest before it died cannot be read: the move waits, naming it.
      await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(client.resource(first).get().getStatus().message)
          .startsWith("waiting, touching neither host: cannot read mig-3: "));
      assertThat(phase(first)).isEqualTo(MigrationPhase.Running);
      assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).map(GuestInfo::state).contains(GuestState.RUNNING);
      assertThat(get(vm).getStatus().nodeName).isEqualTo("mig-1");
    } finally {
      nodes.startNode("mig-3");
    }

    VirtualMachineMigration failed = awaitEnd(first);
    assertThat(failed.getStatus().phase).isEqualTo(MigrationPhase.Failed);
    assertThat(failed.getStatus().message).contains("the guest keeps running on mig-1");
    slowMigrations(0);
    await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofSeconds(1))
        .until(() -> "Completed".equals(evacuation("mig-1").map(NodeCondition::getReason).orElse("")));
    assertThat(get(vm).getStatus().nodeName).isEqualTo("mig-3");
    assertThat(migrations()).filteredOn(m -> phaseOf(m) == MigrationPhase.Succeeded).hasSize(1);
    assertExactlyOneRunningCopyWhereStatusSays(vm);
    assertSerialContinues(vm);
  }


  /**
   * The target's QEMU hangs during Prepare, then the source's libvirtd dies and comes back: the
   * restarted source cancels its side and runs the guest, with no job, while the target keeps a
   * paused half-made copy and an incoming job that nothing will ever end. Once both hosts have
   * shown that for a while, the copy on the target is removed and the move ends Failed.
   */
  @Test
  void anIncomingCopyThatNoSourceSendsToAnyMoreIsRemovedOnceTheHostsKeepShowingItAndTheGuestStays() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "stale-incoming").get(0);
    nodes.freezeNextStartedQemu("mig-2");
    VirtualMachineMigration migration = migrate(vm, "mig-2");
    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200)).until(() ->
        libvirt.find(nodes.host("mig-2"), uid(vm)).map(GuestInfo::state).equals(Optional.of(GuestState.PAUSED))
            && libvirt.migrationMark(nodes.host("mig-2"), uid(vm)) == MigrationMark.INCOMING_JOB);
    assertThat(libvirt.migrationMark(nodes.host("mig-1"), uid(vm))).as("the source waits for the target's Prepare").isEqualTo(MigrationMark.JOB);

    nodes.killDaemon("mig-1");
    nodes.startNode("mig-1");

    await().atMost(Duration.ofSeconds(30)).ignoreExceptions()
        .until(() -> libvirt.migrationMark(nodes.host("mig-1"), uid(vm)) == MigrationMark.NONE);
    assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).map(GuestInfo::state).contains(GuestState.RUNNING);
    assertThat(libvirt.migrationMark(nodes.host("mig-2"), uid(vm))).as("libvirt keeps the incoming job").isEqualTo(MigrationMark.INCOMING_JOB);
    // Not on the first reading: an ordinary failed end shows the same for a moment.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(client.resource(migration).get().getStatus().message)
        .startsWith("reading both hosts again before acting, touching neither: the guest runs on mig-1, which sends it nowhere"));
    assertThat(libvirt.find(nodes.host("mig-2"), uid(vm))).as("the copy on mig-2, still there while the hosts are read again").isPresent();
    VirtualMachineMigration done = awaitEnd(migration);
    assertThat(done.getStatus().phase).as(done.getStatus().message).isEqualTo(MigrationPhase.Failed);
    assertThat(done.getStatus().message).contains("the copy on mig-2 still waits for it").endsWith("that copy never ran and is removed");
    assertThat(libvirt.find(nodes.host("mig-2"), uid(vm))).as("the half-made copy on mig-2").isEmpty();
    assertThat(volumeFile("mig-2", vm)).as("what the move had copied to mig-2").doesNotExist();
    assertThat(get(vm).getStatus().nodeName).isEqualTo("mig-1");
    assertExactlyOneRunningCopyWhereStatusSays(vm);
    assertSerialContinues(vm);
  }

  @Test
  void uncordoningDuringEvacuationLeavesTheRestWhereTheyAre() throws Exception {
    slowMigrations(1);
    try {
      List<VirtualMachine> vms = vmsOn("mig-1", "u1", "u2", "u3", "u4");
      cordon("mig-1", true);
      await().atMost(Duration.ofSeconds(30)).until(() -> migrations().stream().anyMatch(m -> phaseOf(m) == MigrationPhase.Running));

      cordon("mig-1", false);

      await().atMost(Duration.ofSeconds(60)).until(() -> migrations().stream().allMatch(m -> phaseOf(m) != null && phaseOf(m).isFinal()));
      int created = migrations().size();
      assertThat(created).as("at most the two the caps allowed before the uncordon").isBetween(1, 2);
      assertThat(migrations()).allSatisfy(m -> assertThat(m.getStatus().phase).isIn(MigrationPhase.Aborted, MigrationPhase.Succeeded));
      Thread.sleep(5000);
      assertThat(migrations()).as("nothing created after the uncordon").hasSize(created);
      long stayed = vms.stream().filter(vm -> "mig-1".equals(get(vm).getStatus().nodeName)).count();
      assertThat(stayed).isGreaterThanOrEqualTo(2);
      for (VirtualMachine vm : vms) {
        assertExactlyOneRunningCopyWhereStatusSays(vm);
      }
      assertThat(evacuation("mig-1").orElseThrow().getReason()).isEqualTo("NotCordoned");
    } finally {
      slowMigrations(0);
    }
  }

  @Test
  void onlyTheFiveNewestFinishedMigrationsOfAVmAreKept() {
    VirtualMachine vm = vmsOn("mig-1", "history").get(0);
    List<String> names = new ArrayList<>();
    for (int i = 0; i < 7; i++) {
      VirtualMachineMigration m = awaitEnd(migrate(vm, "mig-404"));
      names.add(m.getMetadata().getName());
    }

    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(migrations())
        .extracting(m -> m.getMetadata().getName())
        .containsExactlyInAnyOrderElementsOf(names.subList(2, 7)));
  }

  @Test
  void aTransferThatOutrunsTheClassCompletionTimeoutIsAbortedAndTheGuestStays() throws Exception {
    slowMigrations(1);
    setCompletionTimeoutPerGiB(2); // a 32 MiB guest counts as 1 GiB: 2 s for the whole transfer
    try {
      VirtualMachine vm = vmsOn("mig-1", "too-slow").get(0);

      VirtualMachineMigration done = awaitEnd(migrate(vm, "mig-2"));

      assertThat(done.getStatus().phase).isEqualTo(MigrationPhase.Failed);
      assertThat(done.getStatus().message)
          .isEqualTo("the transfer exceeded its completion timeout of 2 s (2 s per GiB); the guest keeps running on mig-1");
      assertExactlyOneRunningCopyWhereStatusSays(vm);
      assertThat(get(vm).getStatus().nodeName).isEqualTo("mig-1");
      assertSerialContinues(vm);
    } finally {
      setCompletionTimeoutPerGiB(150);
      slowMigrations(0);
    }
  }

  @Test
  void withPostCopyAllowedATransferThatOutrunsItsTimeoutSwitchesToPostCopyAndFinishes() throws Exception {
    slowMigrations(1);
    setCompletionTimeoutPerGiB(2);
    allowPostCopy(true);
    try {
      // A guest that keeps rewriting memory, allowed no pause at the switch-over: pre-copy alone
      // would never finish.
      VirtualMachine vm = vmsOn("mig-1", CounterGuest.build(work, 128), "post-copy").get(0);
      VirtualMachineMigration migration = migrate(vm, "mig-2");
      allowNoDowntimeOnceRunning(migration, vm);

      VirtualMachineMigration done = awaitEnd(migration);

      assertThat(done.getStatus().phase).as(done.getStatus().message).isEqualTo(MigrationPhase.Succeeded);
      assertThat(done.getStatus().postCopy).isTrue();
      assertThat(client.v1().events().inNamespace(namespace).list().getItems())
          .anySatisfy(e -> {
            assertThat(e.getReason()).isEqualTo("PostCopy");
            assertThat(e.getInvolvedObject().getName()).isEqualTo(done.getMetadata().getName());
            assertThat(e.getMessage()).startsWith("switched to post-copy: the transfer exceeded its completion timeout of 2 s");
          });
      await().atMost(Duration.ofSeconds(30)).until(() -> "mig-2".equals(get(vm).getStatus().nodeName));
      assertExactlyOneRunningCopyWhereStatusSays(vm);
      assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).as("nothing left on mig-1").isEmpty();
      assertSerialContinues(vm);
    } finally {
      allowPostCopy(false);
      setCompletionTimeoutPerGiB(150);
      slowMigrations(0);
    }
  }

  @Test
  void shutdownEvictionRestartsTheVmElsewhereWithAFaithfulCopyOfItsDisk() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", name -> vmEvictedBy("Shutdown", name), "cold").get(0);
    Path saved = work.resolve("cold-disk-before-the-move");
    Path onSource = volumeFile("mig-1", vm);
    Files.copy(onSource, saved, StandardCopyOption.REPLACE_EXISTING);

    cordon("mig-1", true);

    await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofSeconds(1))
        .until(() -> "Completed".equals(evacuation("mig-1").map(NodeCondition::getReason).orElse("")));
    VirtualMachineMigration done = migrations().get(0);
    assertThat(done.getSpec().method).isEqualTo(MigrationMethod.Restart);
    assertThat(done.getStatus().phase).as(done.getStatus().message).isEqualTo(MigrationPhase.Succeeded);
    assertThat(done.getStatus().downtimeMillis).as("at least the 3 s grace period the guest ignored").isGreaterThanOrEqualTo(3000);
    VirtualMachine moved = get(vm);
    assertThat(moved.getStatus().nodeName).isIn("mig-2", "mig-3");
    assertThat(moved.getStatus().phase).isEqualTo(VirtualMachinePhase.Running);
    assertExactlyOneRunningCopyWhereStatusSays(vm);
    assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).as("nothing left on mig-1").isEmpty();
    assertThat(onSource).as("the source's volume is deleted").doesNotExist();
    assertSameImage(saved, volumeFile(moved.getStatus().nodeName, vm));
    assertBootedOnceMoreAndCountsOn(vm);
  }

  @Test
  void liveMigrateOrShutdownFallsBackToARestartWhenTheLiveMigrationFails() throws Exception {
    slowMigrations(1);
    setCompletionTimeoutPerGiB(2); // every live migration of a counter guest now fails
    try {
      VirtualMachine vm = vmsOn("mig-1", name -> vmEvictedBy("LiveMigrateOrShutdown", name), "fallback").get(0);

      cordon("mig-1", true);

      await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofSeconds(1))
          .until(() -> "Completed".equals(evacuation("mig-1").map(NodeCondition::getReason).orElse("")));
      assertThat(migrations()).extracting(m -> m.getSpec().method + " " + m.getStatus().phase)
          .containsExactlyInAnyOrder("Live Failed", "Restart Succeeded");
      assertThat(get(vm).getStatus().nodeName).isIn("mig-2", "mig-3");
      assertExactlyOneRunningCopyWhereStatusSays(vm);
      assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).as("nothing left on mig-1").isEmpty();
    } finally {
      setCompletionTimeoutPerGiB(150);
      slowMigrations(0);
    }
  }

  @Test
  void operatorKilledDuringARestartMoveResumesItAndStartsTheGuestOnce() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "crash-restart").get(0);
    VirtualMachineMigration migration = migrate(vm, "mig-2", "Restart");
    // The guest ignores the shutdown request for the 3 s grace period: kill the operator then.
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).until(() -> phase(migration) == MigrationPhase.Running);

    operator.kill();
    assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).map(GuestInfo::state).contains(GuestState.RUNNING);
    operator = startOperator();

    VirtualMachineMigration done = awaitEnd(migration);
    assertThat(done.getStatus().phase).as(done.getStatus().message).isEqualTo(MigrationPhase.Succeeded);
    await().atMost(Duration.ofSeconds(30)).until(() -> "mig-2".equals(get(vm).getStatus().nodeName));
    assertExactlyOneRunningCopyWhereStatusSays(vm);
    assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).isEmpty();
    assertBootedOnceMoreAndCountsOn(vm);
  }


  @Test
  void aTransferWhoseStartWasNotRecordedIsFollowedNotUndone() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "unrecorded").get(0);
    operator.kill();
    // What a leader leaves when the status write after starting the transfer fails: the transfer
    // ran to its end (the guest runs on mig-2, nothing is left on mig-1) and the migration still
    // says Scheduling. The guest on mig-2 is the migrated one, not a leftover.
    VirtualMachineMigration migration = movedBehindTheOperatorsBack(vm, "mig-1", "mig-2", MigrationPhase.Scheduling);

    operator = startOperator();

    VirtualMachineMigration done = awaitEnd(migration);
    assertThat(done.getStatus().phase).as(done.getStatus().message).isEqualTo(MigrationPhase.Succeeded);
    await().atMost(Duration.ofSeconds(30)).until(() -> "mig-2".equals(get(vm).getStatus().nodeName));
    assertExactlyOneRunningCopyWhereStatusSays(vm);
    assertThat(volumeFile("mig-1", vm)).as("the source's volume is deleted").doesNotExist();
    assertSerialContinues(vm);
  }

  @Test
  void aSourceLeftPausedAfterTheSwitchOverIsRemovedAndTheTargetKept() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "paused-source").get(0);
    operator.kill();
    // libvirt can report a migration done while its confirm step failed: the guest runs on the
    // target and a paused copy stays defined on the source. A paused copy is not a running one.
    VirtualMachineMigration migration = migrate(vm, "mig-2");
    await().until(() -> client.resource(migration).get() != null);
    moveBehindTheOperatorsBack(vm, "mig-1", "mig-2");
    defineCopy(vm, "mig-1");
    Virsh.startPaused(nodes.host("mig-1"), uid(vm));
    assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).map(GuestInfo::state).contains(GuestState.PAUSED);
    setStatus(migration, MigrationPhase.Running, "mig-1", "mig-2");

    operator = startOperator();

    VirtualMachineMigration done = awaitEnd(migration);
    assertThat(done.getStatus().phase).as(done.getStatus().message).isEqualTo(MigrationPhase.Succeeded);
    assertThat(done.getStatus().message).contains("the copy left paused on mig-1 is removed");
    assertThat(done.getStatus().targetHasRun).as("recorded before the source's copy was removed").isTrue();
    assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).as("the paused source copy").isEmpty();
    await().atMost(Duration.ofSeconds(30)).until(() -> "mig-2".equals(get(vm).getStatus().nodeName));
    assertExactlyOneRunningCopyWhereStatusSays(vm);
    assertSerialContinues(vm);
  }

  @Test
  void aSourcePausedOnceTheTargetRanIsNotResumedWhenTheTargetCrashesBeforeTheSourceIsRemoved() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "crashed-target").get(0);
    operator.kill();
    // An earlier pass found the guest running on both hosts after the transfer, recorded that the
    // target ran, paused the source and failed to remove it (its host stopped answering); then the
    // guest crashed on the target. The paused source holds memory older than what ran on the target.
    VirtualMachineMigration migration = movedBehindTheOperatorsBack(vm, "mig-1", "mig-2", MigrationPhase.Running);
    defineCopy(vm, "mig-1");
    Virsh.startPaused(nodes.host("mig-1"), uid(vm));
    Virsh.run(nodes.host("mig-2"), "destroy", uid(vm));
    recordThatTheTargetRan(migration);
    assertThat(volumeFile("mig-2", vm)).as("the target's disk, newer than the source's").exists();

    operator = startOperator();

    VirtualMachineMigration done = awaitEnd(migration);
    assertThat(done.getStatus().phase).as(done.getStatus().message).isEqualTo(MigrationPhase.Succeeded);
    assertThat(done.getStatus().message).contains("the older copy left on mig-1 is removed");
    assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).as("the older, paused copy").isEmpty();
    assertThat(volumeFile("mig-1", vm)).as("the source's older disk").doesNotExist();
    assertThat(volumeFile("mig-2", vm)).as("the target's disk").exists();
    // Its runStrategy (Always) starts it again where it last ran.
    await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
      assertThat(get(vm).getStatus().nodeName).isEqualTo("mig-2");
      assertExactlyOneRunningCopyWhereStatusSays(vm);
    });
    assertNeverTwoRunningCopiesFor(vm, Duration.ofSeconds(5));
  }

  @Test
  void aPausedCopyTheTargetShowsOnlyForAMomentDoesNotHoldTheVmForAPerson() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "flicker").get(0);
    operator.kill();
    // What libvirtd restarted during an incoming migration lists for a moment, until its
    // reconnect kills the half-received guest: a paused copy on the target with no job, the
    // transfer recorded as Running. Read once, it looks like two copies that ran.
    VirtualMachineMigration migration = migrate(vm, "mig-2");
    await().until(() -> client.resource(migration).get() != null);
    setStatus(migration, MigrationPhase.Running, "mig-1", "mig-2");
    defineCopy(vm, "mig-2");
    libvirt.start(nodes.host("mig-2"), uid(vm));
    libvirt.pause(nodes.host("mig-2"), uid(vm));

    operator = startOperator();
    // The copy goes once the operator has read it: when it says it reads again, or has decided.
    await().atMost(Duration.ofSeconds(90)).until(() -> client.resource(migration).get(), m -> phaseOf(m).isFinal()
        || String.valueOf(m.getStatus().message).startsWith("reading both hosts again before asking a person"));
    libvirt.forceStop(nodes.host("mig-2"), uid(vm));
    libvirt.undefine(nodes.host("mig-2"), uid(vm));

    VirtualMachineMigration done = awaitEnd(migration);
    assertThat(done.getMetadata().getAnnotations()).as("no person is asked").doesNotContainKey("polyvisor.io/hold");
    assertThat(done.getStatus().phase).isEqualTo(MigrationPhase.Failed);
    // Read once more on its way out (stopped, not yet undefined), the copy is removed as one that never ran.
    assertThat(done.getStatus().message).startsWith("the transfer did not finish; the guest keeps running on mig-1");
    assertThat(libvirt.find(nodes.host("mig-2"), uid(vm))).isEmpty();
    assertExactlyOneRunningCopyWhereStatusSays(vm);
    assertSerialContinues(vm);
  }

  @Test
  void aMoveThatNeedsAPersonHoldsTheVmSoItsOlderCopyIsNotStarted() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "held").get(0);
    operator.kill();
    // The guest moved to mig-2 and ran there (recorded); a stopped copy stayed defined on mig-1;
    // then the copy on mig-2 vanished. What is left on mig-1 is older than what ran on mig-2.
    VirtualMachineMigration migration = movedBehindTheOperatorsBack(vm, "mig-1", "mig-2", MigrationPhase.Running);
    defineCopy(vm, "mig-1");
    libvirt.forceStop(nodes.host("mig-2"), uid(vm));
    libvirt.undefine(nodes.host("mig-2"), uid(vm));
    recordThatTheTargetRan(migration);

    operator = startOperator();

    VirtualMachineMigration done = awaitEnd(migration);
    assertThat(done.getStatus().phase).isEqualTo(MigrationPhase.Failed);
    assertThat(done.getStatus().message).startsWith("the guest ran on mig-2 after the transfer and is gone from it; the copy on"
        + " mig-1 (off) is older than what ran there, so it is not brought back");
    assertThat(done.getMetadata().getAnnotations()).containsKey("polyvisor.io/hold");
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      var ready = condition(vm, "Ready");
      assertThat(ready.getReason()).isEqualTo("NeedsAPerson");
      assertThat(ready.getMessage()).contains("until a person has checked the hosts and removed the annotation polyvisor.io/hold");
    });
    Thread.sleep(5000);
    assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).as("not started by its runStrategy (Always)").map(GuestInfo::state)
        .contains(GuestState.SHUT_OFF);

    // A person has looked and lets the VM go on with the copy that is left.
    client.resource(done).edit(m -> { m.getMetadata().getAnnotations().remove("polyvisor.io/hold"); return m; });
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertExactlyOneRunningCopyWhereStatusSays(vm));
    assertThat(get(vm).getStatus().nodeName).isEqualTo("mig-1");
  }

  @Test
  void aNodeThatLeavesTheClassKeepsItsGuestAndNoSecondCopyIsStarted() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "relabelled").get(0);

    NodeRegistration.label(client, "mig-1", "polyvisor.io/hypervisor", null);
    try {
      assertNeverTwoRunningCopiesFor(vm, Duration.ofSeconds(15));
      assertExactlyOneRunningCopyWhereStatusSays(vm);
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(condition(vm, "Scheduled").getReason()).isEqualTo("NodeLeftClass"));
    } finally {
      NodeRegistration.label(client, "mig-1", "polyvisor.io/hypervisor", CLASS);
    }

    // A Node deleted while its hypervisor runs on: the host is still checked through the endpoint
    // recorded in the VM's status.
    client.nodes().withName("mig-1").delete();
    await().atMost(Duration.ofSeconds(30)).until(() -> client.nodes().withName("mig-1").get() == null);
    try {
      assertNeverTwoRunningCopiesFor(vm, Duration.ofSeconds(15));
      assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).map(GuestInfo::state).contains(GuestState.RUNNING);
      assertThat(get(vm).getStatus().nodeName).isEqualTo("mig-1");
    } finally {
      NodeRegistration.register(nodes.host("mig-1"), "1Gi", CLASS);
    }
    assertExactlyOneRunningCopyWhereStatusSays(vm);
    assertSerialContinues(vm);
  }

  @Test
  void aTargetUnreachableRightAfterTheMoveIsWaitedForAndNoSecondCopyIsStarted() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "target-unreachable").get(0);
    operator.kill();
    // The guest moved to mig-2 and its migration ended, but the VM's status still names mig-1
    // (its reconciler had not run yet). Then mig-2's libvirtd dies (its guest runs on). Nothing
    // of the guest is on mig-1.
    VirtualMachineMigration migration = movedBehindTheOperatorsBack(vm, "mig-1", "mig-2", MigrationPhase.Succeeded);
    nodes.killDaemon("mig-2");
    try {
      operator = startOperator();

      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
        var ready = condition(vm, "Ready");
        assertThat(ready.getStatus()).isEqualTo("Unknown");
        assertThat(ready.getMessage()).startsWith("cannot check mig-2 (").contains("nothing is defined or started on another host");
      });
      assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).as("no copy defined on mig-1").isEmpty();
    } finally {
      nodes.startNode("mig-2");
    }
    await().atMost(Duration.ofSeconds(60)).until(() -> "mig-2".equals(get(vm).getStatus().nodeName));
    assertExactlyOneRunningCopyWhereStatusSays(vm);
    assertSerialContinues(vm);
  }

  @Test
  void deletingARestartMigrationDuringTheMoveNeverStartsTheSource() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "deleted-move").get(0);
    VirtualMachineMigration migration = migrate(vm, "mig-2", "Restart");
    // The guest ignores the shutdown request for the 3 s grace period: the move is under way.
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).until(() -> phase(migration) == MigrationPhase.Running);

    client.resource(migration).delete();

    assertNeverTwoRunningCopiesFor(vm, Duration.ofSeconds(12));
    await().atMost(Duration.ofSeconds(60)).until(() -> client.resource(migration).get() == null);
    await().atMost(Duration.ofSeconds(30)).until(() -> "mig-2".equals(get(vm).getStatus().nodeName));
    assertExactlyOneRunningCopyWhereStatusSays(vm);
    assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).isEmpty();
    assertBootedOnceMoreAndCountsOn(vm);
  }

  @Test
  void aRestartMoveWhoseTargetStopsAnsweringAfterTheShutdownFinishesOnceItIsBack() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "target-gone-cold").get(0);
    VirtualMachineMigration migration = migrate(vm, "mig-2", "Restart");
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).until(() -> phase(migration) == MigrationPhase.Running);

    nodes.killDaemon("mig-2"); // during the 3 s the guest is given to shut down
    try {
      await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(client.resource(migration).get().getStatus().message)
          .startsWith("waiting for the hosts to finish the move: "));
      assertThat(phase(migration)).isEqualTo(MigrationPhase.Running);
      assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).as("not started again on the source")
          .map(g -> g.state()).isNotEqualTo(Optional.of(GuestState.RUNNING));
    } finally {
      nodes.startNode("mig-2");
    }

    VirtualMachineMigration done = awaitEnd(migration);
    assertThat(done.getStatus().phase).as(done.getStatus().message).isEqualTo(MigrationPhase.Succeeded);
    await().atMost(Duration.ofSeconds(30)).until(() -> "mig-2".equals(get(vm).getStatus().nodeName));
    assertExactlyOneRunningCopyWhereStatusSays(vm);
    assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).isEmpty();
    assertBootedOnceMoreAndCountsOn(vm);
  }

  /**
   * The Lease read that must come before the forced stop of a Restart move fails once (the API
   * server refuses it, and the status written just after is accepted): nothing was done on the
   * hosts, so the move waits and carries on instead of ending Failed with its guest shut down.
   */
  @Test
  void aRestartMoveWhoseLeaseCannotBeReadOnceWaitsAndFinishesOnTheTarget() throws Exception {
    restartMoveWithLeaseReadsRefused("lease-unread", 1);
  }

  /**
   * The read before the forced stop fails, and so does the one before the status write that says
   * the move waits: the move has no job left to wake it, and is looked at again within seconds,
   * not at the next resync (which could outlast its patience and end it Failed).
   */
  @Test
  void aRestartMoveWhoseLeaseCannotBeReadTwiceInARowIsLookedAtAgainWithinSeconds() throws Exception {
    restartMoveWithLeaseReadsRefused("lease-unread-twice", 2);
  }

  private void restartMoveWithLeaseReadsRefused(String name, int refused) throws Exception {
    VirtualMachine vm = vmsOn("mig-1", name).get(0);
    operator.close();
    try (ApiFaultProxy proxy = new ApiFaultProxy(RealApiServer.kubeconfigYaml(), note -> {})) {
      // Leading by a Lease, as deployed, renewed every 20 s: between two renewals the Lease is
      // read only to prove leadership before a status write and before each stop, move and start.
      operator = startOperator(proxy.kubeconfigYaml(), Map.of("POLYVISOR_NAMESPACE", namespace,
          "POLYVISOR_LEASE_DURATION_SECONDS", "60", "POLYVISOR_LEASE_RENEW_DEADLINE_SECONDS", "50",
          "POLYVISOR_LEASE_RETRY_PERIOD_SECONDS", "20", "POLYVISOR_SHUTDOWN_GRACE_SECONDS", "6"));
      try {
        awaitLeaseRenewal();
        VirtualMachineMigration migration = migrate(vm, "mig-2", "Restart");
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(200))
            .until(() -> phase(migration) == MigrationPhase.Running);
        Thread.sleep(1500); // the writes that record the start are done; the guest ignores ACPI for 6 s
        proxy.failNextReadsOf("/leases/", refused); // the read before the forced stop (and the next)
        Instant refusing = Instant.now();

        VirtualMachineMigration done = awaitEnd(migration);
        // The guest's 6 s of grace, then a retry 5 s later; the resync (30 s here) would be later.
        assertThat(Duration.between(refusing, Instant.now())).as("time to the move's end").isLessThan(Duration.ofSeconds(22));
        assertThat(proxy.readsFailed()).as("Lease reads refused").isEqualTo(refused);
        assertThat(done.getStatus().phase).as(done.getStatus().message).isEqualTo(MigrationPhase.Succeeded);
        assertThat(eventsOf(done)).anySatisfy(e -> assertThat(e.getReason() + ": " + e.getMessage())
            .startsWith("LeaseUnreadable: waiting to prove this process leads before it finishes the move: not forcing off guest"));
        await().atMost(Duration.ofSeconds(30)).until(() -> "mig-2".equals(get(vm).getStatus().nodeName));
        assertExactlyOneRunningCopyWhereStatusSays(vm);
        assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).isEmpty();
        assertBootedOnceMoreAndCountsOn(vm);
      } finally {
        operator.close();
        operator = startOperator();
      }
    }
  }

  /** Waits for the operator's next renewal of its Lease in this test's namespace. */
  private void awaitLeaseRenewal() {
    await().atMost(Duration.ofSeconds(30)).until(() -> client.leases().inNamespace(namespace).list().getItems().size() == 1);
    var first = client.leases().inNamespace(namespace).list().getItems().get(0).getSpec().getRenewTime();
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).until(() ->
        !first.equals(client.leases().inNamespace(namespace).list().getItems().get(0).getSpec().getRenewTime()));
  }

  @Test
  void aRestartMoveThatFailsAfterCopyingTheDisksDeletesTheCopyAndTheGuestRunsOnOnItsSource() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "squatted").get(0);
    // A stale definition under the VM's name (an earlier VM of that name, deleted while mig-2 did
    // not answer) makes libvirt refuse the moved definition, once the disks are copied.
    String stale = java.util.UUID.randomUUID().toString();
    libvirt.define(nodes.host("mig-2"), new GuestSpec(new GuestId(namespace, "squatted", stale), 1,
        GuestMemory.fixed(32L << 20), NumaPlacement.None, List.of(), List.of(), Optional.empty()));
    try {
      VirtualMachineMigration migration = migrate(vm, "mig-2", "Restart");

      VirtualMachineMigration done = awaitEnd(migration);
      assertThat(done.getStatus().phase).as(done.getStatus().message).isEqualTo(MigrationPhase.Failed);
      assertThat(done.getStatus().message).contains("already exists")
          .endsWith("; the guest stays on mig-1, and what was copied of its disks to mig-2 was deleted");
      assertThat(volumeFile("mig-2", vm)).as("the partial copy on the target").doesNotExist();
      assertThat(volumeFile("mig-1", vm)).as("the guest's own disk").exists();
      // Shut down for the move, it is started again where it is, by its runStrategy.
      await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertExactlyOneRunningCopyWhereStatusSays(vm));
      assertThat(get(vm).getStatus().nodeName).isEqualTo("mig-1");
    } finally {
      libvirt.undefine(nodes.host("mig-2"), stale);
    }
  }

  @Test
  void aHostDeclaredOutOfServiceHasItsGuestStartedElsewhereAndWhatIsLeftThereRemovedOnceItAnswers() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "host-died").get(0);
    nodes.stopNode("mig-1"); // the host dies: its daemon and its guest
    try {
      await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(condition(vm, "Ready").getReason()).isEqualTo("HostUnreachable"));
      Thread.sleep(5000);
      assertThat(List.of("mig-2", "mig-3")).as("nothing started elsewhere while mig-1 cannot be read")
          .allSatisfy(n -> assertThat(libvirt.find(nodes.host(n), uid(vm))).isEmpty());

      outOfService("mig-1", true);

      await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
        String node = get(vm).getStatus().nodeName;
        assertThat(node).isIn("mig-2", "mig-3");
        assertThat(libvirt.find(nodes.host(node), uid(vm))).map(GuestInfo::state).contains(GuestState.RUNNING);
      });
      assertThat(get(vm).getStatus().abandonedNodes).containsExactly("mig-1");
      assertThat(client.v1().events().inNamespace(namespace).list().getItems()).anySatisfy(e -> {
        assertThat(e.getReason()).isEqualTo("HostDeclaredDown");
        assertThat(e.getMessage()).startsWith("node mig-1 is declared out of service (taint node.kubernetes.io/out-of-service)");
      });
    } finally {
      nodes.startNode("mig-1");
    }
    // Back, but still declared down: what it holds is left alone.
    Thread.sleep(3000);
    assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).as("the stale, stopped copy").map(GuestInfo::state)
        .hasValueSatisfying(state -> assertThat(state.isActive()).isFalse());
    assertThat(volumeFile("mig-1", vm)).exists();

    outOfService("mig-1", false);

    await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
      assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).isEmpty();
      assertThat(volumeFile("mig-1", vm)).doesNotExist();
      assertThat(get(vm).getStatus().abandonedNodes).isNull();
    });
    assertExactlyOneRunningCopyWhereStatusSays(vm);
    assertBootedOnceMoreAndCountsOn(vm); // started cold on its new node
  }

  @Test
  void aMigrationWhoseTargetIsDeclaredDownEndsTouchingNeitherHostAndWhatItLeftGoesOnceTheTargetIsBack() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "target-died").get(0);
    slowMigrations(1);
    try {
      VirtualMachineMigration migration = migrate(vm, "mig-2");
      await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).until(() -> phase(migration) == MigrationPhase.Running);
      await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(volumeFile("mig-2", vm)));
      nodes.stopNode("mig-2"); // the target dies mid-transfer
      try {
        await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(client.resource(migration).get().getStatus().message)
            .startsWith("waiting, touching neither host: cannot read mig-2"));

        outOfService("mig-2", true);

        VirtualMachineMigration done = awaitEnd(migration);
        assertThat(done.getStatus().phase).as(done.getStatus().message).isEqualTo(MigrationPhase.Failed);
        assertThat(done.getStatus().message).isEqualTo("node mig-2 is declared out of service (taint node.kubernetes.io/out-of-service)"
            + " and does not answer, so it is taken as holding nothing and left untouched; the guest runs on mig-1");
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(get(vm).getStatus().abandonedNodes).containsExactly("mig-2"));
        assertThat(get(vm).getStatus().nodeName).isEqualTo("mig-1");
        assertThat(libvirt.find(nodes.host("mig-1"), uid(vm))).map(GuestInfo::state).contains(GuestState.RUNNING);
      } finally {
        nodes.startNode("mig-2");
      }
    } finally {
      slowMigrations(0);
    }
    assertThat(volumeFile("mig-2", vm)).as("left by the move, removed only once mig-2 is no longer declared down").exists();

    outOfService("mig-2", false);

    await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> {
      assertThat(volumeFile("mig-2", vm)).doesNotExist();
      assertThat(get(vm).getStatus().abandonedNodes).isNull();
    });
    assertExactlyOneRunningCopyWhereStatusSays(vm);
    assertSerialContinues(vm);
  }

  private static void outOfService(String node, boolean declared) {
    NodeRegistration.edit(client, node, n -> {
      List<io.fabric8.kubernetes.api.model.Taint> taints = n.getSpec().getTaints() == null ? new ArrayList<>()
          : new ArrayList<>(n.getSpec().getTaints());
      taints.removeIf(t -> "node.kubernetes.io/out-of-service".equals(t.getKey()));
      if (declared) {
        taints.add(new io.fabric8.kubernetes.api.model.TaintBuilder().withKey("node.kubernetes.io/out-of-service")
            .withValue("nodeshutdown").withEffect("NoExecute").build());
      }
      n.getSpec().setTaints(taints);
      return n;
    });
  }

  @Test
  void twoMigrationsCreatedAtOnceOnlyOneMovesTheVm() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "contested").get(0);
    operator.kill();
    VirtualMachineMigration toTwo = migrate(vm, "mig-2");
    VirtualMachineMigration toThree = migrate(vm, "mig-3");
    operator = startOperator();

    VirtualMachineMigration a = awaitEnd(toTwo);
    VirtualMachineMigration b = awaitEnd(toThree);

    List<VirtualMachineMigration> both = List.of(a, b);
    assertThat(both).filteredOn(m -> m.getStatus().phase == MigrationPhase.Succeeded).hasSize(1);
    VirtualMachineMigration winner = both.stream().filter(m -> m.getStatus().phase == MigrationPhase.Succeeded).findFirst().orElseThrow();
    VirtualMachineMigration loser = both.stream().filter(m -> m != winner).findFirst().orElseThrow();
    assertThat(loser.getStatus().phase).isEqualTo(MigrationPhase.Failed);
    assertThat(loser.getStatus().message).isEqualTo("VirtualMachine contested is already being migrated by "
        + winner.getMetadata().getName() + "; one migration at a time");
    await().atMost(Duration.ofSeconds(30)).until(() -> winner.getStatus().targetNode.equals(get(vm).getStatus().nodeName));
    assertExactlyOneRunningCopyWhereStatusSays(vm);
    assertSerialContinues(vm);
  }

  @Test
  void aMigrationBoundToAnEarlierVmOfTheSameNameDoesNotActOnTheNewOne() throws Exception {
    VirtualMachine vm = vmsOn("mig-1", "reborn").get(0);
    operator.kill();
    // A migration of an earlier VM called "reborn", left in Scheduling: bound to that VM's uid.
    VirtualMachineMigration migration = migrate(vm, "mig-2");
    await().until(() -> client.resource(migration).get() != null);
    client.resource(migration).edit(m -> { m.getMetadata().getLabels().put(MigrationLabels.VM_UID, "00000000-0000-0000-0000-000000000001"); return m; });
    setStatus(migration, MigrationPhase.Scheduling, "mig-1", "mig-2");

    operator = startOperator();

    VirtualMachineMigration done = awaitEnd(migration);
    assertThat(done.getStatus().phase).isEqualTo(MigrationPhase.Failed);
    assertThat(done.getStatus().message).startsWith("VirtualMachine reborn was deleted and created again since this migration was made for it");
    assertThat(get(vm).getStatus().nodeName).isEqualTo("mig-1");
    assertExactlyOneRunningCopyWhereStatusSays(vm);
    assertSerialContinues(vm);
  }

  @Test
  void deletingAVmDuringItsMigrationWaitsForTheMoveAndLeavesNothingBehind() throws Exception {
    slowMigrations(1);
    try {
      VirtualMachine vm = vmsOn("mig-1", "deleted-mid-move").get(0);
      VirtualMachineMigration migration = migrate(vm, "mig-2");
      await().atMost(Duration.ofSeconds(30)).until(() -> phase(migration) == MigrationPhase.Running);

      client.resource(get(vm)).delete();

      await().atMost(Duration.ofSeconds(90)).until(() -> get(vm) == null);
      for (String node : NODES) {
        assertThat(libvirt.find(nodes.host(node), uid(vm))).as("a copy on %s", node).isEmpty();
        assertThat(volumeFile(node, vm)).as("a volume on %s", node).doesNotExist();
      }
      assertThat(migrations()).as("the VM's migrations go with it").isEmpty();
    } finally {
      slowMigrations(0);
    }
  }

  // --- helpers ---------------------------------------------------------------------------------

  private static OperatorProcess startOperator() throws Exception {
    return startOperator(RealApiServer.kubeconfigYaml(), Map.of());
  }

  private static OperatorProcess startOperator(String kubeconfigYaml, Map<String, String> environment) throws Exception {
    // The counter guest ignores ACPI: a short grace period keeps Restart migrations quick.
    Map<String, String> all = new java.util.HashMap<>(Map.of("POLYVISOR_CONSOLE_LOG_DIR", work.toString(),
        "POLYVISOR_RESYNC_PERIOD_SECONDS", "30", "POLYVISOR_SHUTDOWN_GRACE_SECONDS", "3"));
    all.putAll(environment);
    return OperatorProcess.start(work.resolve("operator"), all, kubeconfigYaml);
  }

  /** Creates VMs and waits until they run on {@code node}: the other nodes are cordoned meanwhile. */
  private List<VirtualMachine> vmsOn(String node, String... names) {
    return vmsOn(node, image, names);
  }

  private List<VirtualMachine> vmsOn(String node, Path guestImage, String... names) {
    return vmsOn(node, name -> TestManifests.counterVm(name, CLASS, "Always", "32Mi", STORAGE, guestImage), names);
  }

  /** A counter VM whose evictionStrategy is {@code strategy}. */
  private String vmEvictedBy(String strategy, String name) {
    return TestManifests.counterVm(name, CLASS, "Always", "32Mi", STORAGE, image) + "  evictionStrategy: " + strategy + "\n";
  }

  private List<VirtualMachine> vmsOn(String node, Function<String, String> manifestOf, String... names) {
    NODES.stream().filter(n -> !n.equals(node)).forEach(n -> cordon(n, true));
    List<VirtualMachine> vms = new ArrayList<>();
    for (String name : names) {
      vms.add(create(manifestOf.apply(name)));
    }
    for (VirtualMachine vm : vms) {
      await().atMost(Duration.ofSeconds(60)).until(() -> get(vm).getStatus() != null && get(vm).getStatus().phase == VirtualMachinePhase.Running);
      assertThat(get(vm).getStatus().nodeName).isEqualTo(node);
      Path console = work.resolve(namespace + "_" + vm.getMetadata().getName() + ".log");
      await().atMost(Duration.ofSeconds(30)).until(() -> CounterGuest.readCount(console).size() >= 10);
    }
    NODES.stream().filter(n -> !n.equals(node)).forEach(n -> cordon(n, false));
    return vms;
  }

  private void assertSerialContinues(VirtualMachine vm) throws Exception {
    Path console = work.resolve(namespace + "_" + vm.getMetadata().getName() + ".log");
    int before = CounterGuest.readCount(console).size();
    await().atMost(Duration.ofSeconds(30)).until(() -> CounterGuest.readCount(console).size() >= before + 10);
    CounterGuest.assertContinuous(CounterGuest.readCount(console));
  }

  /**
   * A migration of the VM to {@code target} that the hosts carried out while no operator ran,
   * recorded as far as {@code phase}, as a leader that died at that point leaves it.
   */
  private VirtualMachineMigration movedBehindTheOperatorsBack(VirtualMachine vm, String source, String target, MigrationPhase phase)
      throws Exception {
    VirtualMachineMigration migration = migrate(vm, target);
    await().until(() -> client.resource(migration).get() != null);
    moveBehindTheOperatorsBack(vm, source, target);
    setStatus(migration, phase, source, target);
    return migration;
  }

  /** A stopped copy of the VM's guest defined on {@code node} behind the operator's back (no disks). */
  private void defineCopy(VirtualMachine vm, String node) {
    libvirt.define(nodes.host(node), new GuestSpec(new GuestId(namespace, vm.getMetadata().getName(), uid(vm)), 1,
        GuestMemory.fixed(32L << 20), NumaPlacement.None, List.of(), List.of(), Optional.empty()));
  }

  /** What an earlier pass of the migration stores once it sees the target run the guest. */
  private void recordThatTheTargetRan(VirtualMachineMigration migration) {
    VirtualMachineMigration recorded = client.resource(migration).get();
    recorded.getStatus().targetHasRun = true;
    client.resource(recorded).updateStatus();
  }

  /** A live migration made straight through libvirt, while no operator runs. */
  private static void moveBehindTheOperatorsBack(VirtualMachine vm, String source, String target) throws Exception {
    libvirt.migrate(nodes.host(source), nodes.host(target), uid(vm), new MigrationOptions(false, 0, false, false, false)).completion().get();
  }

  /** Samples every node every 100 ms for a while: the guest never runs on two at once. */
  private void assertNeverTwoRunningCopiesFor(VirtualMachine vm, Duration window) throws InterruptedException {
    Instant end = Instant.now().plus(window);
    while (Instant.now().isBefore(end)) {
      List<String> running = NODES.stream().filter(n -> {
        try {
          return libvirt.find(nodes.host(n), uid(vm)).map(g -> g.state() == GuestState.RUNNING).orElse(false);
        } catch (RuntimeException unreachable) {
          return false;
        }
      }).toList();
      assertThat(running).as("nodes running %s at %s", vm.getMetadata().getName(), Instant.now()).hasSizeLessThanOrEqualTo(1);
      Thread.sleep(100);
    }
  }

  private io.fabric8.kubernetes.api.model.Condition condition(VirtualMachine vm, String type) {
    return get(vm).getStatus().conditions.stream().filter(c -> type.equals(c.getType())).findFirst().orElseThrow();
  }

  private void assertExactlyOneRunningCopyWhereStatusSays(VirtualMachine vm) {
    List<String> running = NODES.stream()
        .filter(n -> libvirt.find(nodes.host(n), uid(vm)).map(g -> g.state() == GuestState.RUNNING).orElse(false))
        .toList();
    assertThat(running).as("nodes running %s", vm.getMetadata().getName()).containsExactly(get(vm).getStatus().nodeName);
  }

  private VirtualMachineMigration migrate(VirtualMachine vm, String target) {
    return migrate(vm, target, "Live");
  }

  private VirtualMachineMigration migrate(VirtualMachine vm, String target, String method) {
    String manifest = """
        apiVersion: polyvisor.io/v1alpha1
        kind: VirtualMachineMigration
        metadata:
          name: %s-to-%s-%d
        spec:
          vmName: %s
          targetNode: %s
          method: %s
        """.formatted(vm.getMetadata().getName(), target, System.nanoTime() % 100000, vm.getMetadata().getName(), target, method);
    VirtualMachineMigration migration = client.getKubernetesSerialization().unmarshal(manifest, VirtualMachineMigration.class);
    return client.resource(migration).inNamespace(namespace).create();
  }

  private VirtualMachineMigration awaitEnd(VirtualMachineMigration migration) {
    return await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(500))
        .until(() -> client.resource(migration).get(), m -> phaseOf(m) != null && phaseOf(m).isFinal());
  }

  private MigrationPhase phase(VirtualMachineMigration migration) {
    return phaseOf(client.resource(migration).get());
  }

  private static MigrationPhase phaseOf(VirtualMachineMigration m) {
    return m == null || m.getStatus() == null ? null : m.getStatus().phase;
  }

  private void setStatus(VirtualMachineMigration migration, MigrationPhase phase, String source, String target) {
    VirtualMachineMigration current = client.resource(migration).get();
    current.getStatus().phase = phase;
    current.getStatus().sourceNode = source;
    current.getStatus().targetNode = target;
    client.resource(current).updateStatus();
  }

  private List<VirtualMachineMigration> migrations() {
    return client.resources(VirtualMachineMigration.class).inNamespace(namespace).list().getItems();
  }

  /** The most transfers that ran at once, from the recorded start and completion times. */
  private static int maxOverlap(List<VirtualMachineMigration> migrations) {
    int max = 0;
    for (VirtualMachineMigration m : migrations) {
      Instant t = Instant.parse(m.getStatus().startTime);
      int at = (int) migrations.stream().filter(o -> !Instant.parse(o.getStatus().startTime).isAfter(t)
          && Instant.parse(o.getStatus().completionTime).isAfter(t)).count();
      max = Math.max(max, at);
    }
    return max;
  }

  /** The Events recorded about a migration. */
  private static List<io.fabric8.kubernetes.api.model.Event> eventsOf(VirtualMachineMigration migration) {
    return client.v1().events().inNamespace(migration.getMetadata().getNamespace()).list().getItems().stream()
        .filter(e -> migration.getMetadata().getUid().equals(e.getInvolvedObject().getUid()))
        .toList();
  }

  /** The EvacuationBlocked warnings said about a node since {@code since} (Events of Nodes are in default). */
  private static List<io.fabric8.kubernetes.api.model.Event> evacuationBlockedEventsSince(String node, Instant since) {
    Instant from = since.truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
    return client.v1().events().inNamespace("default").list().getItems().stream()
        .filter(e -> "Node".equals(e.getInvolvedObject().getKind()) && node.equals(e.getInvolvedObject().getName()))
        .filter(e -> "EvacuationBlocked".equals(e.getReason()))
        .filter(e -> !Instant.parse(e.getLastTimestamp()).isBefore(from))
        .toList();
  }

  private Optional<NodeCondition> evacuation(String node) {
    return client.nodes().withName(node).get().getStatus().getConditions().stream()
        .filter(c -> EvacuationReconciler.CONDITION.equals(c.getType())).findFirst();
  }

  private static void cordon(String node, boolean cordoned) {
    NodeRegistration.cordon(client, node, cordoned);
  }

  /** Caps the class's migration bandwidth (MiB/s, 0 = unlimited) so that a transfer lasts long enough to interfere with. */
  private static void slowMigrations(int mibPerSecond) {
    client.resources(io.polyvisor.api.v1alpha1.HypervisorClass.class).withName(CLASS)
        .edit(c -> { c.getSpec().migration.bandwidthMiBps = mibPerSecond; return c; });
  }

  private static void allowPostCopy(boolean allowed) {
    client.resources(io.polyvisor.api.v1alpha1.HypervisorClass.class).withName(CLASS)
        .edit(c -> { c.getSpec().migration.allowPostCopy = allowed; return c; });
  }

  private static void setCompletionTimeoutPerGiB(int seconds) {
    client.resources(io.polyvisor.api.v1alpha1.HypervisorClass.class).withName(CLASS)
        .edit(c -> { c.getSpec().migration.completionTimeoutPerGiBSeconds = seconds; return c; });
  }

  /** Once the transfer has started (the disks are mirrored first), allows it no pause at the switch-over. */
  private void allowNoDowntimeOnceRunning(VirtualMachineMigration migration, VirtualMachine vm) throws Exception {
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).until(() -> phase(migration) == MigrationPhase.Running);
    Virsh.allowNoDowntime(nodes.host("mig-1"), uid(vm));
  }

  /** A cold restart: the guest's count starts again at 0 once, then runs on without a gap. */
  private void assertBootedOnceMoreAndCountsOn(VirtualMachine vm) throws Exception {
    Path console = work.resolve(namespace + "_" + vm.getMetadata().getName() + ".log");
    await().atMost(Duration.ofSeconds(30)).until(() -> countAfterRestart(CounterGuest.readCount(console)).size() >= 10);
    CounterGuest.assertContinuous(countAfterRestart(CounterGuest.readCount(console)));
  }

  /** The count since the guest last started from 0, after exactly one restart. */
  private static List<Long> countAfterRestart(List<Long> count) {
    List<Integer> starts = new ArrayList<>();
    for (int i = 0; i < count.size(); i++) {
      if (count.get(i) == 0) {
        starts.add(i);
      }
    }
    if (starts.size() < 2) {
      return List.of();
    }
    assertThat(starts).as("the guest booted twice: on the source, then on the target").hasSize(2);
    return count.subList(starts.get(1), count.size());
  }

  /** The file of the VM's root volume in the node's directory pool, as seen from outside the node. */
  private static Path volumeFile(String node, VirtualMachine vm) {
    return nodes.libDir(node).resolve("images/polyvisor")
        .resolve(vm.getMetadata().getNamespace() + "_" + vm.getMetadata().getName() + "_root-" + uid(vm).substring(0, 8));
  }

  /** Asserts two disk images hold the same guest-visible data, whatever their container format. */
  private static void assertSameImage(Path expected, Path actual) throws Exception {
    Process compare = new ProcessBuilder("qemu-img", "compare", "-U", expected.toString(), actual.toString())
        .redirectErrorStream(true).start();
    String output = new String(compare.getInputStream().readAllBytes());
    assertThat(compare.waitFor()).as("qemu-img compare: %s", output).isZero();
  }

  private VirtualMachine create(String manifest) {
    VirtualMachine vm = client.getKubernetesSerialization().unmarshal(manifest, VirtualMachine.class);
    return client.resource(vm).inNamespace(namespace).create();
  }

  private VirtualMachine get(VirtualMachine vm) {
    return client.resources(VirtualMachine.class).inNamespace(namespace).withName(vm.getMetadata().getName()).get();
  }

  private static String uid(VirtualMachine vm) {
    return vm.getMetadata().getUid();
  }

  private String vmManifest(String name, String hypervisorClass) {
    String storage = hypervisorClass.equals(CLASS) ? STORAGE : "it-mig-hyperv-disk";
    return TestManifests.counterVm(name, hypervisorClass, "Always", "32Mi", storage, image);
  }
}
