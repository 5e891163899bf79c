package io.polyvisor.planner;

import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.cluster.HypervisorNode;

/**
 * How much a node of a class may hold: its allocatable memory times the class's
 * memoryOvercommitPercent, and its allocatable CPUs times the class's cpuOvercommitRatio.
 */
public record Capacity(int memoryOvercommitPercent, int vcpusPerCpu) {

  public static final int DEFAULT_CPU_OVERCOMMIT_RATIO = 8;

  public static Capacity of(HypervisorClass hypervisorClass) {
    Integer memory = hypervisorClass.getSpec().memoryOvercommitPercent;
    Integer cpu = hypervisorClass.getSpec().cpuOvercommitRatio;
    return new Capacity(memory == null ? 100 : memory, cpu == null ? DEFAULT_CPU_OVERCOMMIT_RATIO : cpu);
  }

  public long memory(HypervisorNode node) {
    return node.allocatableMemoryBytes() * memoryOvercommitPercent / 100;
  }

  /** Whole vCPUs: a node offering 1500m at ratio 2 holds 3. */
  public long vcpus(HypervisorNode node) {
    return node.allocatableMillicpu() * vcpusPerCpu / 1000;
  }

  public long freeMemory(HypervisorNode node, Commitments committed) {
    return memory(node) - committed.on(node.name()).memoryBytes();
  }

  public long freeVcpus(HypervisorNode node, Commitments committed) {
    return vcpus(node) - committed.on(node.name()).vcpus();
  }
}
