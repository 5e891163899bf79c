package io.polyvisor.planner;

import static io.polyvisor.vm.Fixtures.dynamicVm;
import static io.polyvisor.vm.Fixtures.kvmClass;
import static io.polyvisor.vm.Fixtures.node;
import static io.polyvisor.vm.Fixtures.vm;
import static org.assertj.core.api.Assertions.assertThat;

import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.cluster.HypervisorNode;
import io.polyvisor.driver.HostCpuModels;
import io.polyvisor.planner.Placement.Placed;
import io.polyvisor.planner.Placement.Unschedulable;
import java.util.List;
import java.util.Map.Entry;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PlacementTest {

  @Test
  void theNodeWithTheMostRoomWinsSoVmsSpreadOut() {
    var decision = Placement.place(vm("a", "512Mi"), kvmClass(100),
        List.of(node("n1", "4Gi", true, false), node("n2", "4Gi", true, false)), memory(Map.of("n1", 1L << 30)), Set.of());
    assertThat(decision).isEqualTo(new Placed(node("n2", "4Gi", true, false)));
  }

  @Test
  void cordonedNotReadyAndForeignNodesAreSkipped() {
    var decision = Placement.place(vm("a", "512Mi"), kvmClass(100),
        List.of(node("cordoned", "64Gi", true, true), node("down", "64Gi", false, false), node("ok", "1Gi", true, false)),
        memory(Map.of()), Set.of());
    assertThat(((Placed) decision).node().name()).isEqualTo("ok");
  }

  @Test
  void dynamicVmsCountTheirMinimumAndOvercommitStretchesCapacity() {
    VirtualMachine dynamic = dynamicVm("d", "1Gi", "2Gi", "4Gi");
    // 1Gi allocatable with 150% overcommit holds 1.5Gi; 512Mi are taken: 1Gi left, the minimum fits.
    var decision = Placement.place(dynamic, kvmClass(150), List.of(node("n", "1Gi", true, false)), memory(Map.of("n", 512L << 20)), Set.of());
    assertThat(decision).isInstanceOf(Placed.class);
    var without = Placement.place(dynamic, kvmClass(100), List.of(node("n", "1Gi", true, false)), memory(Map.of("n", 512L << 20)), Set.of());
    assertThat(without).isInstanceOf(Unschedulable.class);
  }

  @Test
  void reasonsSayWhichFilterLeftNothingWithTheNumbers() {
    assertThat(Placement.place(vm("a", "1Gi"), kvmClass(100), List.of(), memory(Map.of()), Set.of()))
        .isEqualTo(new Unschedulable("NoNodeOfClass", "no node carries the labels of HypervisorClass kvm (polyvisor.io/hypervisor=kvm)"));
    assertThat(Placement.place(vm("a", "1Gi"), kvmClass(100), List.of(node("n", "4Gi", true, true)), memory(Map.of()), Set.of()))
        .isEqualTo(new Unschedulable("AllNodesCordoned", "all 1 Ready nodes of class kvm are cordoned"));
    assertThat(Placement.place(vm("a", "1Gi"), kvmClass(100), List.of(node("n", "4Gi", false, false)), memory(Map.of()), Set.of()))
        .isEqualTo(new Unschedulable("NoReadyNode", "none of the 1 nodes of class kvm is Ready"));
    assertThat(Placement.place(vm("a", "4Gi"), kvmClass(100),
            List.of(node("n1", "2Gi", true, false), node("n2", "6Gi", true, false)), memory(Map.of("n2", 3L << 30)), Set.of()))
        .isEqualTo(new Unschedulable("InsufficientMemory", "no kvm node has 4Gi of memory free: n1 has 2Gi of 2Gi, n2 has 3Gi of 6Gi"));

    VirtualMachine picky = vm("a", "1Gi");
    picky.getSpec().nodeSelector = Map.of("zone", "b");
    assertThat(Placement.place(picky, kvmClass(100), List.of(node("n", "4Gi", true, false)), memory(Map.of()), Set.of()))
        .isEqualTo(new Unschedulable("NoNodeMatchesSelector", "none of the 1 nodes of class kvm carries spec.nodeSelector (zone=b)"));
  }

  @Test
  void excludedNodesAreNeverChosen() {
    var decision = Placement.place(vm("a", "1Gi"), kvmClass(100), List.of(node("source", "64Gi", true, false)), Commitments.none(), Set.of("source"));
    assertThat(decision).isEqualTo(new Unschedulable("NoNodeOfClass",
        "no other node carries the labels of HypervisorClass kvm (polyvisor.io/hypervisor=kvm)"));
  }

  @Test
  void vcpusCountAgainstTheNodesCpusTimesTheClassRatio() {
    VirtualMachine big = vm("big", "64Mi");
    big.getSpec().cpu = new io.polyvisor.api.v1alpha1.CpuSpec();
    big.getSpec().cpu.cores = 200;
    var hvc = kvmClass(100);
    // 2 CPUs at the default ratio of 8 hold 16 vCPUs.
    assertThat(Placement.place(big, hvc, List.of(node("n1", "4Gi", "2", true, false), node("n2", "4Gi", "2", true, false)),
            Commitments.none(), Set.of()))
        .isEqualTo(new Unschedulable("InsufficientCpu", "no kvm node with the memory has 200 vCPUs free (spec.cpu.cores;"
            + " 8 per host CPU, the class's cpuOvercommitRatio): n1 has 16 of 16, n2 has 16 of 16"));
    big.getSpec().cpu.cores = 4;
    hvc.getSpec().cpuOvercommitRatio = 2;
    Commitments committed = Commitments.none();
    committed.add("n1", new Demand(0, 1));
    // n1 has the most memory, but only 3 of its 4 vCPUs are free; n2 has all 4.
    assertThat(Placement.place(big, hvc, List.of(node("n1", "8Gi", "2", true, false), node("n2", "4Gi", "2", true, false)),
            committed, Set.of()))
        .isEqualTo(new Placed(node("n2", "4Gi", "2", true, false)));
    // Half a CPU at ratio 2 is one vCPU.
    assertThat(Capacity.of(hvc).vcpus(node("n3", "1Gi", "500m", true, false))).isEqualTo(1);
  }

  @Test
  void commitmentsCountAVmOnItsNodeAndOnTheTargetOfItsMigrationUnderWay() {
    VirtualMachine a = vm("a", "1Gi");
    a.getStatus().nodeName = "n1";
    VirtualMachine b = vm("b", "512Mi");
    b.getStatus().nodeName = "n1";
    var moving = new io.polyvisor.api.v1alpha1.VirtualMachineMigration();
    moving.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName("m").withNamespace("ns").build());
    moving.getSpec().vmName = "a";
    moving.getSpec().targetNode = "n2";
    var finished = new io.polyvisor.api.v1alpha1.VirtualMachineMigration();
    finished.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName("old").withNamespace("ns").build());
    finished.getSpec().vmName = "b";
    finished.getSpec().targetNode = "n3";
    finished.getStatus().phase = io.polyvisor.api.v1alpha1.MigrationPhase.Failed;

    Commitments committed = Commitments.of(List.of(a, b), List.of(moving, finished), null);
    assertThat(committed.on("n1")).isEqualTo(new Demand(3L << 29, 2));
    assertThat(committed.on("n2")).isEqualTo(new Demand(1L << 30, 1));
    assertThat(committed.on("n3")).isEqualTo(Demand.NONE);
    assertThat(Commitments.of(List.of(a, b), List.of(moving), a.getMetadata().getUid()).on("n2")).isEqualTo(Demand.NONE);
  }

  @Test
  void aLiveMoveGoesOnlyToANodeThatOffersTheCpuModelTheGuestRunsWith() {
    VirtualMachine vm = vm("a", "1Gi");
    vm.getStatus().cpuModel = "EPYC-Rome";
    HypervisorNode big = offering(node("big", "64Gi", true, false), "Westmere", "EPYC");
    HypervisorNode small = offering(node("small", "2Gi", true, false), "EPYC-Rome", "Westmere");
    HypervisorNode unknown = node("unknown", "4Gi", true, false);

    var live = CpuModels.required(vm, kvmClass(100), true);
    assertThat(Placement.place(vm, kvmClass(100), List.of(big, small), Commitments.none(), Set.of(), live))
        .as("the node with the most room lacks the model").isEqualTo(new Placed(small));
    assertThat(Placement.place(vm, kvmClass(100), List.of(big, unknown), Commitments.none(), Set.of(), live))
        .as("a node whose models are not known is not known to refuse").isEqualTo(new Placed(unknown));
    assertThat(Placement.place(vm, kvmClass(100), List.of(big), Commitments.none(), Set.of(), live))
        .isEqualTo(new Unschedulable("CpuModelNotOffered", "the hypervisor of none of the 1 Ready, uncordoned nodes of class kvm"
            + " offers CPU model EPYC-Rome (status.cpuModel: the guest keeps its CPU when it moves live): big lack the label"
            + " cpu-model.polyvisor.io/EPYC-Rome"));
    assertThat(Placement.place(vm, kvmClass(100), List.of(big), Commitments.none(), Set.of()))
        .as("started afresh, a host-model guest takes the new host's CPU").isEqualTo(new Placed(big));
    // Where the model is only what host-model stands for, a guest that runs with it comes live.
    HypervisorNode hostModel = new HypervisorNode("hm", true, false, false, withLabels(node("hm", "4Gi", true, false),
        CpuModels.labels(new HostCpuModels(Set.of("Westmere"), Optional.of("EPYC-Rome")))), 4L << 30, 4000, big.host());
    assertThat(Placement.place(vm, kvmClass(100), List.of(big, hostModel), Commitments.none(), Set.of(), live))
        .isEqualTo(new Placed(hostModel));
    vm.getStatus().cpuModel = null;
    assertThat(Placement.place(vm, kvmClass(100), List.of(big), Commitments.none(), Set.of(), CpuModels.required(vm, kvmClass(100), true)))
        .as("no model recorded: the controller's comparison decides").isEqualTo(new Placed(big));
  }

  @Test
  void aClassThatNamesAModelStartsItsGuestsOnlyWhereTheHypervisorOffersIt() {
    var hvc = kvmClass(100);
    hvc.getSpec().cpuModel = "EPYC";
    HypervisorNode big = offering(node("big", "64Gi", true, false), "Westmere");
    HypervisorNode small = offering(node("small", "2Gi", true, false), "EPYC");

    assertThat(Placement.place(vm("a", "1Gi"), hvc, List.of(big, small), Commitments.none(), Set.of())).isEqualTo(new Placed(small));
    assertThat(Placement.place(vm("a", "1Gi"), hvc, List.of(big), Commitments.none(), Set.of()))
        .isEqualTo(new Unschedulable("CpuModelNotOffered", "the hypervisor of none of the 1 Ready, uncordoned nodes of class kvm"
            + " offers CPU model EPYC (the class's cpuModel): big lack the label cpu-model.polyvisor.io/EPYC=true"));
    // A model usable only as host-model cannot define a guest by name.
    HypervisorNode hostModelOnly = new HypervisorNode("hm", true, false, false, withLabels(node("hm", "4Gi", true, false),
        CpuModels.labels(new HostCpuModels(Set.of("Westmere"), Optional.of("EPYC")))), 4L << 30, 4000, big.host());
    assertThat(Placement.place(vm("a", "1Gi"), hvc, List.of(hostModelOnly), Commitments.none(), Set.of()))
        .isInstanceOf(Unschedulable.class);
    hvc.getSpec().cpuModel = "host-passthrough";
    assertThat(Placement.place(vm("a", "1Gi"), hvc, List.of(big), Commitments.none(), Set.of())).isEqualTo(new Placed(big));
  }

  private static HypervisorNode offering(HypervisorNode node, String... models) {
    return new HypervisorNode(node.name(), node.ready(), node.cordoned(), node.outOfService(),
        withLabels(node, CpuModels.labels(new HostCpuModels(Set.of(models), Optional.empty()))),
        node.allocatableMemoryBytes(), node.allocatableMillicpu(), node.host());
  }

  private static Map<String, String> withLabels(HypervisorNode node, Map<String, String> more) {
    Map<String, String> labels = new java.util.HashMap<>(node.labels());
    labels.putAll(more);
    return Map.copyOf(labels);
  }

  /** Commitments of memory only, by node. */
  private static Commitments memory(Map<String, Long> bytes) {
    Commitments committed = Commitments.none();
    for (Entry<String, Long> e : bytes.entrySet()) {
      committed.add(e.getKey(), new Demand(e.getValue(), 0));
    }
    return committed;
  }
}
