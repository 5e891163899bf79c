package io.polyvisor.vm;

import io.fabric8.kubernetes.api.model.Quantity;
import io.polyvisor.api.v1alpha1.MemoryPolicy;
import io.polyvisor.api.v1alpha1.MemorySpec;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;

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

  /**
   * Memory promised on each node, by node name: what {@link #reserved} counts for every VM whose
   * status places it there, leaving out the VM with {@code excludedUid} (the one being placed).
   */
  public static Map<String, Long> reservedByNode(Collection<VirtualMachine> vms, String excludedUid) {
    Map<String, Long> reserved = new HashMap<>();
    for (VirtualMachine vm : vms) {
      if (vm.getStatus() != null && vm.getStatus().nodeName != null && !vm.getMetadata().getUid().equals(excludedUid)) {
        reserved.merge(vm.getStatus().nodeName, reserved(vm), Long::sum);
      }
    }
    return reserved;
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
