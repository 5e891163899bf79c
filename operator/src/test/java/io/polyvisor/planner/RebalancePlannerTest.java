package io.polyvisor.planner;

import static io.polyvisor.vm.Fixtures.kvmClass;
import static io.polyvisor.vm.Fixtures.node;
import static io.polyvisor.vm.Fixtures.vm;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.polyvisor.api.v1alpha1.EvictionStrategy;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.MemoryStatus;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.MigrationPolicy;
import io.polyvisor.api.v1alpha1.RebalancingPolicy;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.cluster.HypervisorNode;
import io.polyvisor.planner.RebalancePlan.Move;
import io.polyvisor.planner.RebalancePlan.State;
import io.polyvisor.planner.RebalancePlan.Verdict;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Rebalancing decisions, table by table: nodes of 640Mi, VMs of 64Mi (10% each), threshold 80%, watermark 50%. */
class RebalancePlannerTest {

  private static final Instant NOW = Instant.parse("2026-12-01T10:00:00Z");
  private Instant now = NOW;

  private final HypervisorClass hvc = kvmClass(100);
  private List<HypervisorNode> nodes =
      List.of(node("n1", "640Mi", true, false), node("n2", "640Mi", true, false), node("n3", "640Mi", true, false));
  private final List<VirtualMachine> vms = new ArrayList<>();
  private final List<VirtualMachineMigration> migrations = new ArrayList<>();
  private Set<String> relieving = Set.of();
  private final Map<String, Long> cpuUse = new HashMap<>();

  @BeforeEach
  void policy() {
    hvc.getSpec().rebalancing = new RebalancingPolicy();
    hvc.getSpec().rebalancing.memoryThresholdPercent = 80;
    hvc.getSpec().rebalancing.memoryWatermarkPercent = 50;
    hvc.getSpec().rebalancing.coolDownSeconds = 60;
    hvc.getSpec().migration = new MigrationPolicy();
    hvc.getSpec().migration.parallelOutboundPerNode = 10;
    hvc.getSpec().migration.parallelPerCluster = 10;
  }

  private RebalancePlan plan() {
    return RebalancePlanner.plan(new RebalanceSnapshot(hvc, nodes, vms, migrations, relieving, cpuUse, now));
  }

  private VirtualMachine on(String node, String name, String memory) {
    VirtualMachine vm = vm(name, memory);
    vm.getStatus().nodeName = node;
    vm.getStatus().phase = VirtualMachinePhase.Running;
    vms.add(vm);
    return vm;
  }

  private void fill(String node, int count) {
    for (int i = 0; i < count; i++) {
      on(node, node + "-vm" + i, "64Mi");
    }
  }

  private Verdict verdict(RebalancePlan plan, String node) {
    return plan.nodes().stream().filter(v -> v.node().equals(node)).findFirst().orElseThrow();
  }

  /** Carries the moves out: each VM now runs on its target, moved just now. */
  private void carryOut(RebalancePlan plan) {
    for (Move move : plan.moves()) {
      move.vm().getStatus().nodeName = move.target();
      VirtualMachineMigration m = new VirtualMachineMigration();
      m.setMetadata(new ObjectMetaBuilder().withName(move.vm().getMetadata().getName() + "-rebal-" + migrations.size())
          .withNamespace("ns").build());
      m.getSpec().vmName = move.vm().getMetadata().getName();
      m.getSpec().targetNode = move.target();
      m.getStatus().phase = MigrationPhase.Succeeded;
      m.getStatus().sourceNode = move.source();
      m.getStatus().targetNode = move.target();
      m.getStatus().completionTime = NOW.toString();
      migrations.add(m);
    }
  }

  @Test
  void anOverloadedNodeIsRelievedToItsWatermarkOntoNodesThatStayUnderTheirs() {
    fill("n1", 9); // 90%

    RebalancePlan plan = plan();

    assertThat(plan.moves()).extracting(Move::target).containsExactly("n2", "n3", "n2", "n3");
    assertThat(verdict(plan, "n1").state()).isEqualTo(State.Relieving);
    assertThat(verdict(plan, "n1").after()).isEqualTo(50.0);
    assertThat(plan.moves().get(0).why()).startsWith("moving ns/n1-vm0 (64Mi) from n1 to n2: n1 memory pressure 90% -> 80%"
        + " (threshold 80%, watermark 50%); n2 0% -> 10%; this VM because it relieves the most of the VMs that can move;"
        + " n2 because it has the most memory free of the nodes that stay at or under the watermark with it");
    assertThat(plan.moves().get(3).why()).contains("this VM because it alone brings n1 to the watermark");
  }

  @Test
  void theFewestMovesWinOneLargeVmRatherThanSeveralSmallOnes() {
    on("n1", "big", "256Mi");
    on("n1", "small-1", "64Mi");
    on("n1", "small-2", "64Mi");
    on("n1", "small-3", "64Mi");
    on("n1", "small-4", "64Mi"); // 512Mi: 80%... one more to be over
    on("n1", "small-5", "64Mi"); // 576Mi: 90%

    RebalancePlan plan = plan();

    // 90% -> 50% needs 256Mi off: big alone does it.
    assertThat(plan.moves()).extracting(m -> m.vm().getMetadata().getName()).containsExactly("big");
  }

  @Test
  void vmsThatMayNotMoveLiveOrMovedWithinTheCoolDownStayAndTheNodeSaysWhy() {
    on("n1", "pinned", "256Mi").getSpec().evictionStrategy = EvictionStrategy.None;
    on("n1", "restart-only", "128Mi").getSpec().evictionStrategy = EvictionStrategy.Shutdown;
    VirtualMachine recent = on("n1", "recent", "192Mi");
    carryOut(new RebalancePlan(List.of(), List.of(new Move(recent, "n2", "n1", "test"))));
    migrations.get(0).getStatus().completionTime = NOW.minusSeconds(20).toString();

    RebalancePlan plan = plan();

    assertThat(plan.moves()).isEmpty();
    Verdict n1 = verdict(plan, "n1");
    assertThat(n1.state()).isEqualTo(State.CannotRelieve);
    assertThat(n1.message()).isEqualTo("memory pressure 90% (576Mi committed of 640Mi, 576Mi used of 640Mi; threshold 80%); to bring it"
        + " to 50% or less nothing can move: ns/pinned: evictionStrategy None (only VMs that may move live are rebalanced);"
        + " ns/recent: moved or tried 20 s ago (coolDownSeconds 60); ns/restart-only: evictionStrategy Shutdown (only VMs that may move"
        + " live are rebalanced)");

    // Once the cool-down is over, the VM moves.
    migrations.get(0).getStatus().completionTime = NOW.minusSeconds(61).toString();
    assertThat(plan().moves()).extracting(m -> m.vm().getMetadata().getName()).containsExactly("recent");
  }

  @Test
  void noTargetIsPushedOverItsWatermarkSoNothingGoesBackAndForth() {
    fill("n1", 9);
    fill("n2", 5); // at its watermark: takes nothing
    fill("n3", 4); // takes one

    RebalancePlan first = plan();
    assertThat(first.moves()).extracting(Move::target).containsExactly("n3");
    assertThat(verdict(first, "n1").after()).isEqualTo(80.0);
    carryOut(first);

    // n1 is at its threshold, no longer over it: nothing moves, now or after the cool-down.
    RebalancePlan second = plan();
    assertThat(second.moves()).isEmpty();
    assertThat(second.nodes()).extracting(Verdict::state).containsOnly(State.Balanced);
    now = NOW.plusSeconds(61);
    assertThat(plan().moves()).as("after the cool-down").isEmpty();
  }

  @Test
  void aNodeBeingRelievedGoesOnUnderItsThresholdDownToTheWatermark() {
    fill("n1", 7); // 70%: under the threshold

    assertThat(plan().moves()).as("not overloaded, not being relieved").isEmpty();

    relieving = Set.of("n1");
    RebalancePlan plan = plan();
    assertThat(plan.moves()).hasSize(2);
    assertThat(verdict(plan, "n1").after()).isEqualTo(50.0);

    // Stuck above the watermark but under the threshold, it is reported balanced, not blocked.
    vms.forEach(vm -> vm.getSpec().evictionStrategy = EvictionStrategy.None);
    Verdict stuck = verdict(plan(), "n1");
    assertThat(stuck.state()).isEqualTo(State.Balanced);
    assertThat(stuck.message()).contains("under its threshold, above its watermark 50%: nothing more can move: ns/n1-vm0: evictionStrategy None");
  }

  @Test
  void aFailedOrCancelledRebalanceIsNotTriedAgainBeforeTheCoolDown() {
    fill("n1", 9);
    hvc.getSpec().migration.parallelOutboundPerNode = 1;
    RebalancePlan first = plan();
    Move move = first.moves().get(0);
    carryOut(first);
    VirtualMachineMigration failed = migrations.get(0);
    failed.getStatus().phase = MigrationPhase.Aborted;
    failed.getMetadata().setLabels(java.util.Map.of(io.polyvisor.migration.MigrationLabels.REBALANCED_NODE, "n1"));
    move.vm().getStatus().nodeName = "n1";

    RebalancePlan second = plan();

    assertThat(second.moves()).extracting(m -> m.vm().getMetadata().getName()).doesNotContain(move.vm().getMetadata().getName())
        .hasSize(1);
  }

  @Test
  void aVmWhoseMoveJustSucceededCountsWhereItWentBeforeItsStatusSaysSo() {
    fill("n1", 9);
    RebalancePlan first = plan();
    carryOut(first);
    // The statuses still name n1: the moves succeeded a moment ago.
    first.moves().forEach(m -> m.vm().getStatus().nodeName = "n1");
    migrations.forEach(m -> m.getMetadata().setCreationTimestamp(NOW.toString()));

    RebalancePlan second = plan();

    assertThat(second.moves()).isEmpty();
    assertThat(verdict(second, "n1").pressure()).isEqualTo(50.0);
    assertThat(verdict(second, "n2").pressure()).isEqualTo(20.0);
  }

  @Test
  void aNodeThatAManualMoveLeavesIsNotTakenAsBeingRelieved() {
    fill("n1", 7);
    VirtualMachineMigration manual = new VirtualMachineMigration();
    manual.setMetadata(new ObjectMetaBuilder().withName("by-hand").withNamespace("ns").build());
    manual.getSpec().vmName = "n1-vm0";
    manual.getSpec().targetNode = "n2";
    manual.getStatus().phase = MigrationPhase.Running;
    migrations.add(manual);

    assertThat(verdict(plan(), "n1").state()).isEqualTo(State.Balanced);
  }

  @Test
  void cordonedNodesAreNeitherRelievedNorTargets() {
    nodes = List.of(node("n1", "640Mi", true, true), node("n2", "640Mi", true, true), node("n3", "640Mi", true, false));
    fill("n1", 9);
    fill("n3", 9);

    RebalancePlan plan = plan();

    assertThat(plan.nodes()).extracting(Verdict::node).containsExactly("n3");
    assertThat(verdict(plan, "n3").state()).isEqualTo(State.CannotRelieve);
    assertThat(verdict(plan, "n3").message()).contains("no other Ready, uncordoned node would stay at or under the watermark 50% with it");
  }

  @Test
  void theParallelCapsHoldAndMovesUnderWayCountWhereTheyGo() {
    hvc.getSpec().migration.parallelOutboundPerNode = 1;
    fill("n1", 9);

    RebalancePlan first = plan();
    assertThat(first.moves()).hasSize(1);
    assertThat(verdict(first, "n1").message()).contains("1 moves now, more once the parallel caps allow: 80% after them");

    // That move under way: n1 is counted without it, n2 with it, and nothing more starts from n1.
    Move move = first.moves().get(0);
    VirtualMachineMigration running = new VirtualMachineMigration();
    running.setMetadata(new ObjectMetaBuilder().withName("m").withNamespace("ns").build());
    running.getSpec().vmName = move.vm().getMetadata().getName();
    running.getSpec().targetNode = move.target();
    running.getStatus().phase = MigrationPhase.Running;
    migrations.add(running);
    RebalancePlan second = plan();
    assertThat(second.moves()).isEmpty();
    assertThat(verdict(second, "n1").pressure()).isEqualTo(80.0);
    assertThat(verdict(second, "n2").pressure()).isEqualTo(10.0);
  }

  @Test
  void whatDynamicGuestsUseCountsWhereTheBalloonReportsIt() {
    VirtualMachine dynamic = io.polyvisor.vm.Fixtures.dynamicVm("hungry", "64Mi", "128Mi", "640Mi");
    dynamic.getStatus().nodeName = "n1";
    dynamic.getStatus().phase = VirtualMachinePhase.Running;
    dynamic.getStatus().memory = new MemoryStatus();
    dynamic.getStatus().memory.assigned = new Quantity("576Mi");
    vms.add(dynamic);

    // Booting, before its balloon driver reports, the guest holds its maximum: not taken as used.
    assertThat(verdict(plan(), "n1").pressure()).isEqualTo(20.0);

    dynamic.getStatus().memory.demand = new Quantity("480Mi");

    RebalancePlan plan = plan();

    // Reported: 64Mi committed (10%), 576Mi used (90%): the used figure is the pressure.
    assertThat(verdict(plan, "n1").pressure()).isEqualTo(90.0);
    assertThat(verdict(plan, "n1").state()).isEqualTo(State.CannotRelieve);
    assertThat(verdict(plan, "n1").message()).contains("ns/hungry: no other Ready, uncordoned node would stay at or under the watermark 50% with it");
  }

  @Test
  void vcpuPressureIsRelievedWhenTheClassSetsACpuThreshold() {
    hvc.getSpec().rebalancing.cpuThresholdPercent = 50;
    hvc.getSpec().cpuOvercommitRatio = 1; // 4 CPUs hold 4 vCPUs
    for (String name : List.of("c1", "c2", "c3")) {
      on("n1", name, "64Mi"); // 3 of 4 vCPUs: 75%
    }

    RebalancePlan plan = plan();

    // The CPU watermark defaults to 80% of the threshold, 40%: one vCPU left on n1 (25%).
    assertThat(plan.moves()).hasSize(2);
    assertThat(plan.moves().get(0).why()).contains("CPU pressure 75% -> 50%");
  }

  @Test
  void measuredCpuUseRelievesANodeWhoseCommittedVcpusAreLowByMovingTheGuestsThatUseIt() {
    cpuPolicy();
    // 4 CPUs at the default ratio of 8 hold 32 vCPUs: 3 committed is 9%.
    cpuUse.put(on("n1", "busy", "64Mi").getMetadata().getUid(), 1800L);
    cpuUse.put(on("n1", "busier", "64Mi").getMetadata().getUid(), 2200L);
    cpuUse.put(on("n1", "idle", "64Mi").getMetadata().getUid(), 20L);

    RebalancePlan plan = plan();

    // 4020m of 4000m: busy (1800m) alone would leave 56%, over the watermark of 55%; busier
    // (2200m) alone leaves 46%, and n2 takes it at 55%: one move is enough.
    assertThat(plan.moves()).extracting(m -> m.vm().getMetadata().getName()).containsExactly("busier");
    assertThat(plan.moves().get(0).why()).contains("(2200m CPU used, 1 vCPUs)").contains("CPU pressure 101% -> 46%")
        .contains("CPU 0% -> 55%");
    assertThat(verdict(plan, "n1").message()).contains("4020m used of 4000m");
  }

  @Test
  void aTargetThatTheGuestsMeasuredUseWouldPushOverItsCpuWatermarkIsNotChosen() {
    cpuPolicy();
    cpuUse.put(on("n1", "hot", "64Mi").getMetadata().getUid(), 3000L);
    cpuUse.put(on("n2", "warm", "64Mi").getMetadata().getUid(), 1000L);
    cpuUse.put(on("n3", "warm2", "64Mi").getMetadata().getUid(), 1000L);

    RebalancePlan plan = plan();

    // hot would put n2 or n3 at 100%, over their watermark: nothing moves, and n1 says why.
    assertThat(plan.moves()).isEmpty();
    assertThat(verdict(plan, "n1").state()).isEqualTo(RebalancePlan.State.CannotRelieve);
  }

  @Test
  void withNothingMeasuredAVmRelievesCpuByItsCommittedVcpus() {
    cpuPolicy();
    hvc.getSpec().rebalancing.cpuWatermarkPercent = 30;
    hvc.getSpec().cpuOvercommitRatio = 4; // 4 CPUs hold 16 vCPUs
    cores(on("n1", "a", "64Mi"), 1);
    cores(on("n1", "b", "64Mi"), 4);
    cores(on("n1", "c", "64Mi"), 8); // 13 of 16: 81%; c fits nowhere under 30%

    RebalancePlan plan = plan();

    assertThat(plan.moves()).extracting(m -> m.vm().getMetadata().getName()).first().isEqualTo("b");
    assertThat(plan.moves().get(0).why()).contains("(0m CPU used, 4 vCPUs)").contains("CPU pressure 81% -> 56%");
  }

  private static void cores(VirtualMachine vm, int cores) {
    vm.getSpec().cpu = new io.polyvisor.api.v1alpha1.CpuSpec();
    vm.getSpec().cpu.cores = cores;
  }

  /** Memory out of the way; CPU relieved above 70%, down to 55%. */
  private void cpuPolicy() {
    hvc.getSpec().rebalancing.memoryThresholdPercent = 95;
    hvc.getSpec().rebalancing.memoryWatermarkPercent = 90;
    hvc.getSpec().rebalancing.cpuThresholdPercent = 70;
    hvc.getSpec().rebalancing.cpuWatermarkPercent = 55;
  }
}
