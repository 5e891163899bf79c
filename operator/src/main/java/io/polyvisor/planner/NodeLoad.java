package io.polyvisor.planner;

import io.fabric8.kubernetes.api.model.Quantity;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.cluster.HypervisorNode;

/**
 * How loaded a node is, as rebalancing reads it: memory committed to its guests against what the
 * class lets it hold, memory its guests use against its allocatable memory, vCPUs committed
 * against what the class lets it hold, and the CPU its guests use (measured from the hypervisor's
 * CPU time counters, where it has them) against its allocatable CPUs. Pressures are percents.
 *
 * @param usedMillicpu the guests' measured CPU use, in thousandths of a host CPU
 */
public record NodeLoad(HypervisorNode node, Capacity capacity, long committedBytes, long usedBytes, int vcpus, long usedMillicpu) {

  public static NodeLoad empty(HypervisorNode node, Capacity capacity) {
    return new NodeLoad(node, capacity, 0, 0, 0, 0);
  }

  /**
   * What a VM uses: a Dynamic guest what the hypervisor gives it now, which the balloon keeps at
   * its demand plus buffer, once its balloon driver has reported a demand; before that (a guest
   * that boots holds its maximum until the driver inflates the balloon) at most its startup size.
   * A Static guest uses its size.
   */
  public static long used(VirtualMachine vm) {
    long size = MemoryRequest.startup(vm.getSpec().memory);
    var memory = vm.getStatus() == null ? null : vm.getStatus().memory;
    if (!MemoryRequest.isDynamic(vm.getSpec().memory) || memory == null || memory.assigned == null) {
      return size;
    }
    long assigned = Quantity.getAmountInBytes(memory.assigned).longValue();
    return memory.demand != null ? assigned : Math.min(assigned, size);
  }

  /** @param millicpu the CPU the VM's guest was measured to use (0 when not measured) */
  public NodeLoad plus(VirtualMachine vm, long millicpu) {
    Demand demand = Demand.of(vm);
    return new NodeLoad(node, capacity, committedBytes + demand.memoryBytes(), usedBytes + used(vm), vcpus + demand.vcpus(),
        usedMillicpu + millicpu);
  }

  public NodeLoad minus(VirtualMachine vm, long millicpu) {
    Demand demand = Demand.of(vm);
    return new NodeLoad(node, capacity, committedBytes - demand.memoryBytes(), usedBytes - used(vm), vcpus - demand.vcpus(),
        usedMillicpu - millicpu);
  }

  /** The larger of the committed and the used memory pressure. */
  public double memoryPressure() {
    return Math.max(percent(committedBytes, capacity.memory(node)), percent(usedBytes, node.allocatableMemoryBytes()));
  }

  /** The larger of the committed vCPU pressure and the measured CPU use over the node's allocatable CPUs. */
  public double cpuPressure() {
    return Math.max(committedCpuPressure(), usedCpuPressure());
  }

  private double committedCpuPressure() {
    return percent(vcpus, capacity.vcpus(node));
  }

  private double usedCpuPressure() {
    return percent(usedMillicpu, node.allocatableMillicpu());
  }

  private static double percent(double part, double whole) {
    return whole <= 0 ? (part > 0 ? Double.POSITIVE_INFINITY : 0) : 100.0 * part / whole;
  }
}
