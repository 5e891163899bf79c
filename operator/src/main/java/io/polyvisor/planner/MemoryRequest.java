package io.polyvisor.planner;

import io.fabric8.kubernetes.api.model.Quantity;
import io.polyvisor.api.v1alpha1.MemoryPolicy;
import io.polyvisor.api.v1alpha1.MemorySpec;
import io.polyvisor.api.v1alpha1.VirtualMachine;

/** The memory figures of a VM's spec, in bytes. */
public final class MemoryRequest {

  private MemoryRequest() {}

  public static long bytes(String quantity) {
    return Quantity.getAmountInBytes(new Quantity(quantity)).longValue();
  }

  public static boolean isDynamic(MemorySpec memory) {
    return memory.policy == MemoryPolicy.Dynamic;
  }

  /** What placement counts against a node: the size of a Static VM, the minimum of a Dynamic one. */
  public static long reserved(VirtualMachine vm) {
    MemorySpec memory = vm.getSpec().memory;
    return bytes(isDynamic(memory) ? memory.minimum : memory.size);
  }

  public static long startup(MemorySpec memory) {
    return bytes(memory.size);
  }

  public static long maximum(MemorySpec memory) {
    return bytes(isDynamic(memory) ? memory.maximum : memory.size);
  }

  public static long minimum(MemorySpec memory) {
    return bytes(isDynamic(memory) ? memory.minimum : memory.size);
  }
}
