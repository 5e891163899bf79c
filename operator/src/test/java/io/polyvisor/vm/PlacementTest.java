package io.polyvisor.vm;

import static io.polyvisor.vm.Fixtures.dynamicVm;
import static io.polyvisor.vm.Fixtures.kvmClass;
import static io.polyvisor.vm.Fixtures.node;
import static io.polyvisor.vm.Fixtures.vm;
import static org.assertj.core.api.Assertions.assertThat;

import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.vm.Placement.Placed;
import io.polyvisor.vm.Placement.Unschedulable;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PlacementTest {

  @Test
  void theNodeWithTheMostRoomWinsSoVmsSpreadOut() {
    var decision = Placement.place(vm("a", "512Mi"), kvmClass(100),
        List.of(node("n1", "4Gi", true, false), node("n2", "4Gi", true, false)), Map.of("n1", 1L << 30), Set.of());
    assertThat(decision).isEqualTo(new Placed(node("n2", "4Gi", true, false)));
  }

  @Test
  void cordonedNotReadyAndForeignNodesAreSkipped() {
    var decision = Placement.place(vm("a", "512Mi"), kvmClass(100),
        List.of(node("cordoned", "64Gi", true, true), node("down", "64Gi", false, false), node("ok", "1Gi", true, false)),
        Map.of(), Set.of());
    assertThat(((Placed) decision).node().name()).isEqualTo("ok");
  }

  @Test
  void dynamicVmsCountTheirMinimumAndOvercommitStretchesCapacity() {
    VirtualMachine dynamic = dynamicVm("d", "1Gi", "2Gi", "4Gi");
    // 1Gi allocatable with 150% overcommit holds 1.5Gi; 512Mi are taken: 1Gi left, the minimum fits.
    var decision = Placement.place(dynamic, kvmClass(150), List.of(node("n", "1Gi", true, false)), Map.of("n", 512L << 20), Set.of());
    assertThat(decision).isInstanceOf(Placed.class);
    var without = Placement.place(dynamic, kvmClass(100), List.of(node("n", "1Gi", true, false)), Map.of("n", 512L << 20), Set.of());
    assertThat(without).isInstanceOf(Unschedulable.class);
  }

  @Test
  void reasonsSayWhichFilterLeftNothingWithTheNumbers() {
    assertThat(Placement.place(vm("a", "1Gi"), kvmClass(100), List.of(), Map.of(), Set.of()))
        .isEqualTo(new Unschedulable("NoNodeOfClass", "no node carries the labels of HypervisorClass kvm (polyvisor.io/hypervisor=kvm)"));
    assertThat(Placement.place(vm("a", "1Gi"), kvmClass(100), List.of(node("n", "4Gi", true, true)), Map.of(), Set.of()))
        .isEqualTo(new Unschedulable("AllNodesCordoned", "all 1 Ready nodes of class kvm are cordoned"));
    assertThat(Placement.place(vm("a", "1Gi"), kvmClass(100), List.of(node("n", "4Gi", false, false)), Map.of(), Set.of()))
        .isEqualTo(new Unschedulable("NoReadyNode", "none of the 1 nodes of class kvm is Ready"));
    assertThat(Placement.place(vm("a", "4Gi"), kvmClass(100),
            List.of(node("n1", "2Gi", true, false), node("n2", "6Gi", true, false)), Map.of("n2", 3L << 30), Set.of()))
        .isEqualTo(new Unschedulable("InsufficientMemory", "no kvm node has 4Gi of memory free: n1 has 2Gi of 2Gi, n2 has 3Gi of 6Gi"));

    VirtualMachine picky = vm("a", "1Gi");
    picky.getSpec().nodeSelector = Map.of("zone", "b");
    assertThat(Placement.place(picky, kvmClass(100), List.of(node("n", "4Gi", true, false)), Map.of(), Set.of()))
        .isEqualTo(new Unschedulable("NoNodeMatchesSelector", "none of the 1 nodes of class kvm carries spec.nodeSelector (zone=b)"));
  }

  @Test
  void excludedNodesAreNeverChosen() {
    var decision = Placement.place(vm("a", "1Gi"), kvmClass(100), List.of(node("source", "64Gi", true, false)), Map.of(), Set.of("source"));
    assertThat(decision).isEqualTo(new Unschedulable("NoNodeOfClass",
        "no other node carries the labels of HypervisorClass kvm (polyvisor.io/hypervisor=kvm)"));
  }
}
