package io.polyvisor.planner;

import static io.polyvisor.vm.Fixtures.kvmClass;
import static io.polyvisor.vm.Fixtures.node;
import static io.polyvisor.vm.Fixtures.vm;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.polyvisor.api.v1alpha1.EvictionStrategy;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.MigrationMethod;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.cluster.HypervisorNode;
import io.polyvisor.migration.MigrationLabels;
import io.polyvisor.planner.EvacuationPlan.Blocked;
import io.polyvisor.planner.EvacuationPlan.Leaving;
import io.polyvisor.planner.EvacuationPlan.Moving;
import io.polyvisor.planner.EvacuationPlan.Outcome;
import io.polyvisor.planner.EvacuationPlan.Queued;
import io.polyvisor.planner.EvacuationPlan.Start;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The evacuation planner's decisions, one table of VMs and migrations at a time. */
class EvacuationPlannerTest {

  private static final Instant CORDONED = Instant.parse("2026-12-01T10:00:00Z");
  private static final Instant NOW = CORDONED.plusSeconds(30);

  private final HypervisorClass hvc = kvmClass(100);
  private final List<HypervisorNode> nodes =
      List.of(node("n1", "4Gi", true, true), node("n2", "4Gi", true, false), node("n3", "4Gi", true, false));
  private final List<VirtualMachine> vms = new ArrayList<>();
  private final List<VirtualMachineMigration> migrations = new ArrayList<>();

  private EvacuationPlan plan() {
    return plan(CORDONED);
  }

  private EvacuationPlan plan(Instant since) {
    return EvacuationPlanner.plan(new EvacuationSnapshot("n1", hvc, nodes, vms, migrations, since, NOW));
  }

  private VirtualMachine running(String name, String node) {
    VirtualMachine vm = vm(name, "512Mi");
    vm.getStatus().nodeName = node;
    vm.getStatus().phase = VirtualMachinePhase.Running;
    vms.add(vm);
    return vm;
  }

  private VirtualMachineMigration evacuation(VirtualMachine vm, MigrationPhase phase, String target, Instant completed) {
    VirtualMachineMigration m = new VirtualMachineMigration();
    m.setMetadata(new ObjectMetaBuilder().withName(vm.getMetadata().getName() + "-evac-" + migrations.size())
        .withNamespace(vm.getMetadata().getNamespace()).withCreationTimestamp(CORDONED.plusSeconds(1).toString())
        .withLabels(Map.of(MigrationLabels.EVACUATED_NODE, "n1", MigrationLabels.VM_UID, vm.getMetadata().getUid())).build());
    m.getSpec().vmName = vm.getMetadata().getName();
    m.getSpec().targetNode = target;
    m.getStatus().phase = phase;
    m.getStatus().sourceNode = "n1";
    m.getStatus().targetNode = target;
    m.getStatus().completionTime = completed == null ? null : completed.toString();
    migrations.add(m);
    return m;
  }

  private static List<Outcome> outcomes(EvacuationPlan plan) {
    return plan.steps().stream().map(EvacuationPlan.Step::outcome).toList();
  }

  @Test
  void vmsTakeTurnsWithinTheOutboundCapAndEachIsPlacedAsIfThoseBeforeItHadMoved() {
    running("a", "n1");
    running("b", "n1");
    running("c", "n1");
    running("elsewhere", "n2");

    EvacuationPlan plan = plan();

    // n3 is emptier than n2 (which holds "elsewhere"): a goes there; then n2 and n3 hold the
    // same, and the name decides.
    assertThat(outcomes(plan)).containsExactly(
        new Start("n3", MigrationMethod.Live),
        new Start("n2", MigrationMethod.Live),
        new Queued("parallelOutboundPerNode 2 reached", Optional.of("n3"), MigrationMethod.Live));
    assertThat(plan.reason()).isEqualTo("InProgress");
    assertThat(plan.message()).isEqualTo("0 of 3 VMs moved, 2 running, 1 queued, 0 blocked");
  }

  @Test
  void theClusterCapCountsMigrationsOfTheClassFromOtherNodes() {
    hvc.getSpec().migration = new io.polyvisor.api.v1alpha1.MigrationPolicy();
    hvc.getSpec().migration.parallelPerCluster = 1;
    VirtualMachine other = running("other", "n2");
    VirtualMachineMigration busy = evacuation(other, MigrationPhase.Running, "n3", null);
    busy.getMetadata().setLabels(Map.of());
    running("a", "n1");

    assertThat(outcomes(plan())).containsExactly(new Queued("parallelPerCluster 1 reached", Optional.of("n2"), MigrationMethod.Live));
  }

  @Test
  void aVmWhoseMoveSucceededButWhoseStatusStillNamesTheNodeIsLeavingNotBlocked() {
    // At the end of an evacuation the last VMs' migrations have succeeded before their own
    // reconciler recorded the new node: this used to read "9 of 10 moved, 0 running, 0 queued,
    // 0 blocked" with reason Blocked.
    VirtualMachine gone = running("gone", "n2");
    evacuation(gone, MigrationPhase.Succeeded, "n2", NOW.minusSeconds(20));
    VirtualMachine last = running("last", "n1");
    evacuation(last, MigrationPhase.Succeeded, "n3", NOW.minusSeconds(1));

    EvacuationPlan plan = plan();

    assertThat(outcomes(plan)).containsExactly(new Leaving("n3"));
    assertThat(plan.reason()).isEqualTo("InProgress");
    assertThat(plan.message()).isEqualTo("2 of 2 VMs moved, 0 running, 0 queued, 0 blocked");
    assertThat(plan.starting()).isEmpty();
  }

  @Test
  void afterAnOperatorRestartMigrationsUnderWayAreFollowedNotReportedAsBlocked() {
    // What a new leader finds: every VM of the node with a migration under way, or just
    // succeeded and not yet recorded ("0 of 4 VMs moved, 0 running, 0 queued, 0 blocked").
    for (String name : List.of("a", "b", "c", "d")) {
      VirtualMachine vm = running(name, "n1");
      if (name.equals("a") || name.equals("b")) {
        evacuation(vm, MigrationPhase.Running, "n2", null);
      } else {
        evacuation(vm, MigrationPhase.Succeeded, "n3", NOW.minusSeconds(2));
      }
    }

    EvacuationPlan plan = plan();

    assertThat(outcomes(plan)).containsExactly(
        new Moving("a-evac-0", "n2"), new Moving("b-evac-1", "n2"), new Leaving("n3"), new Leaving("n3"));
    assertThat(plan.reason()).isEqualTo("InProgress");
    assertThat(plan.message()).isEqualTo("2 of 4 VMs moved, 2 running, 0 queued, 0 blocked");
  }

  @Test
  void aLeaderThatFindsNoEvacuationConditionCountsTheMovesThatJustSucceeded() {
    // A leader killed between creating the migrations and writing the condition: the next one
    // takes the evacuation as starting now, after the migrations were created.
    for (String name : List.of("a", "b", "c", "d")) {
      evacuation(running(name, "n1"), MigrationPhase.Succeeded, "n2", NOW.minusSeconds(2));
    }

    EvacuationPlan plan = plan(NOW);

    assertThat(plan.reason()).isEqualTo("InProgress");
    assertThat(plan.message()).isEqualTo("4 of 4 VMs moved, 0 running, 0 queued, 0 blocked");
  }

  @Test
  void aVmOnItsWayToTheNodeKeepsTheEvacuationFromCompleting() {
    VirtualMachine incoming = running("incoming", "n2");
    VirtualMachineMigration rebalance = evacuation(incoming, MigrationPhase.Running, "n1", null);
    rebalance.getMetadata().setLabels(Map.of(MigrationLabels.REBALANCED_NODE, "n2"));

    EvacuationPlan plan = plan();

    assertThat(outcomes(plan)).containsExactly(new EvacuationPlan.Arriving(rebalance.getMetadata().getName()));
    assertThat(plan.reason()).isEqualTo("InProgress");
    assertThat(plan.message()).isEqualTo("0 of 0 VMs moved, 0 running, 0 queued, 0 blocked; 1 arriving, moved here before the cordon");
  }

  @Test
  void everyMoveLeavingTheNodeCountsAgainstItsCapAndAHeldVmIsBlocked() {
    VirtualMachine manual = running("manual", "n1");
    VirtualMachineMigration byHand = evacuation(manual, MigrationPhase.Running, "n2", null);
    byHand.getMetadata().setLabels(Map.of());
    byHand.getStatus().sourceNode = null; // not scheduled yet
    VirtualMachine other = running("other", "n1");
    VirtualMachineMigration rebalance = evacuation(other, MigrationPhase.Pending, "n3", null);
    rebalance.getMetadata().setLabels(Map.of(MigrationLabels.REBALANCED_NODE, "n1"));
    running("queued", "n1");
    VirtualMachine held = running("held", "n1");
    VirtualMachineMigration failed = evacuation(held, MigrationPhase.Failed, "n2", NOW.minusSeconds(600));
    failed.getMetadata().setAnnotations(Map.of(MigrationLabels.HOLD, "the target ran the guest and it is gone"));

    EvacuationPlan plan = plan();

    assertThat(outcomes(plan)).hasSize(4);
    assertThat(plan.steps().get(0).outcome()).isInstanceOfSatisfying(Blocked.class, b -> assertThat(b.why())
        .startsWith("held for a person after migration held-evac-2 (annotation polyvisor.io/hold)"));
    // The two moves under way count on n2 and n3 alike: the name decides.
    assertThat(plan.steps().get(3).outcome()).isEqualTo(new Queued("parallelOutboundPerNode 2 reached", Optional.of("n2"),
        MigrationMethod.Live));
  }

  @Test
  void blockedMeansEveryVmLeftIsBlockedAndSaysWhichAndWhy() {
    VirtualMachine pinned = running("pinned", "n1");
    pinned.getSpec().evictionStrategy = EvictionStrategy.None;
    VirtualMachine paused = running("paused", "n1");
    paused.getStatus().phase = VirtualMachinePhase.Paused;

    EvacuationPlan plan = plan();

    assertThat(plan.reason()).isEqualTo("Blocked");
    assertThat(plan.message()).isEqualTo("0 of 2 VMs moved, 0 running, 0 queued, 2 blocked: ns/paused: the guest is paused or"
        + " saved, not running; resume it or stop it; ns/pinned: evictionStrategy None");

    running("movable", "n1");
    assertThat(plan().reason()).as("one VM still moves").isEqualTo("InProgress");
  }

  @Test
  void aVmThatNoNodeCanHoldIsBlockedWithTheNumbers() {
    VirtualMachine big = running("big", "n1");
    big.getSpec().memory.size = "8Gi";

    assertThat(outcomes(plan())).singleElement().isInstanceOfSatisfying(Blocked.class, b -> assertThat(b.why())
        .isEqualTo("no kvm node has 8Gi of memory free: n2 has 4Gi of 4Gi, n3 has 4Gi of 4Gi"));
  }

  @Test
  void aRetryAvoidsTheTargetThatFailedTheVmWhileAnotherCanTakeIt() {
    VirtualMachine vm = running("a", "n1");
    evacuation(vm, MigrationPhase.Failed, "n2", NOW.minusSeconds(25));

    assertThat(outcomes(plan())).containsExactly(new Start("n3", MigrationMethod.Live));

    evacuation(vm, MigrationPhase.Failed, "n3", NOW.minusSeconds(300));
    migrations.get(1).getStatus().completionTime = NOW.minusSeconds(300).toString();
    migrations.get(0).getStatus().completionTime = NOW.minusSeconds(300).toString();
    // Both failed it: the one with the most room is tried again rather than none.
    assertThat(outcomes(plan())).singleElement().isInstanceOf(Start.class);
  }

  @Test
  void aVmInItsRetryWaitIsQueuedAndTheNextRetryIsKnown() {
    VirtualMachine vm = running("a", "n1");
    evacuation(vm, MigrationPhase.Failed, "n2", NOW.minusSeconds(5));

    EvacuationPlan plan = plan();

    assertThat(outcomes(plan)).containsExactly(new Queued("retried after 1 failed moves", Optional.empty(), MigrationMethod.Live));
    assertThat(plan.nextRetry()).contains(NOW.minusSeconds(5).plus(EvacuationRetry.FIRST_RETRY));
  }

  @Test
  void liveMigrateOrShutdownRestartsOnceALiveMoveFailed() {
    VirtualMachine vm = running("a", "n1");
    vm.getSpec().evictionStrategy = EvictionStrategy.LiveMigrateOrShutdown;
    evacuation(vm, MigrationPhase.Failed, "n2", NOW.minusSeconds(60));

    assertThat(outcomes(plan())).containsExactly(new Start("n3", MigrationMethod.Restart));
  }

  @Test
  void anEmptyNodeIsCompletedAndCountsWhatLeftSinceTheCordon() {
    VirtualMachine vm = running("a", "n2");
    evacuation(vm, MigrationPhase.Succeeded, "n2", NOW.minusSeconds(120));
    VirtualMachine before = running("b", "n3");
    evacuation(before, MigrationPhase.Succeeded, "n3", NOW.minusSeconds(120))
        .getMetadata().setCreationTimestamp(CORDONED.minusSeconds(3600).toString());

    EvacuationPlan plan = plan();

    assertThat(plan.reason()).isEqualTo("Completed");
    assertThat(plan.message()).isEqualTo("all 1 VMs moved; no VM of ours runs on n1");
  }

  @Test
  void aGuestWhoseCpuNoOtherNodeOffersLiveIsRestartedElsewhereWhenItsStrategyAllowsAndBlockedWhenNot() {
    // n2 and n3 offer Westmere; the guest runs with EPYC-Rome.
    Map<String, String> westmere = CpuModels.labels(new io.polyvisor.driver.HostCpuModels(java.util.Set.of("Westmere"), Optional.empty()));
    List<HypervisorNode> labelled = nodes.stream().map(n -> n.name().equals("n1") ? n : new HypervisorNode(n.name(), n.ready(),
        n.cordoned(), n.outOfService(), withAll(n.labels(), westmere), n.allocatableMemoryBytes(), n.allocatableMillicpu(), n.host()))
        .toList();
    VirtualMachine either = running("either", "n1");
    either.getStatus().cpuModel = "EPYC-Rome";
    either.getSpec().evictionStrategy = EvictionStrategy.LiveMigrateOrShutdown;
    VirtualMachine live = running("live", "n1");
    live.getStatus().cpuModel = "EPYC-Rome";

    EvacuationPlan plan = EvacuationPlanner.plan(new EvacuationSnapshot("n1", hvc, labelled, vms, migrations, CORDONED, NOW));

    assertThat(outcomes(plan).get(0)).isEqualTo(new Start("n2", MigrationMethod.Restart));
    assertThat(outcomes(plan).get(1)).isInstanceOfSatisfying(Blocked.class, b -> assertThat(b.why())
        .contains("offers CPU model EPYC-Rome (status.cpuModel: the guest keeps its CPU when it moves live)"));
  }

  private static Map<String, String> withAll(Map<String, String> labels, Map<String, String> more) {
    Map<String, String> all = new java.util.HashMap<>(labels);
    all.putAll(more);
    return Map.copyOf(all);
  }
}
