package io.polyvisor.planner;

import io.polyvisor.api.v1alpha1.VirtualMachine;

/**
 * What a VM takes from the node that holds it, as placement counts it: memory (the size of a
 * Static VM, the minimum of a Dynamic one) and virtual CPUs.
 */
public record Demand(long memoryBytes, int vcpus) {

  public static final Demand NONE = new Demand(0, 0);

  public static Demand of(VirtualMachine vm) {
    Integer cores = vm.getSpec().cpu == null ? null : vm.getSpec().cpu.cores;
    return new Demand(MemoryRequest.reserved(vm), cores == null ? 1 : cores);
  }

  public Demand plus(Demand other) {
    return new Demand(memoryBytes + other.memoryBytes, vcpus + other.vcpus);
  }
}
