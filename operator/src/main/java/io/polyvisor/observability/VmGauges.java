package io.polyvisor.observability;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Metrics;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * {@code polyvisor_vms{class, phase}}: how many VirtualMachines of each class are in each phase,
 * counted from the operator's cache when Prometheus scrapes. A series appears with the first VM
 * seen in that class and phase and stays (at 0 when none is left), as Prometheus prefers.
 */
public final class VmGauges {

  /** For reconcilers that run without a cache (unit tests). */
  public static final VmGauges NONE = new VmGauges(List::of);

  private final Supplier<? extends Iterable<VirtualMachine>> vms;
  private final Set<List<String>> registered = ConcurrentHashMap.newKeySet();

  public VmGauges(Supplier<? extends Iterable<VirtualMachine>> vms) {
    this.vms = vms;
  }

  /** A VM of this class is in this phase: make sure its series exists. */
  public void seen(String className, VirtualMachinePhase phase) {
    if (this == NONE || className == null || phase == null || !registered.add(List.of(className, phase.name()))) {
      return;
    }
    Gauge.builder("polyvisor.vms", () -> count(className, phase))
        .description("VirtualMachines by HypervisorClass and phase")
        .tag("class", className)
        .tag("phase", phase.name())
        .register(Metrics.globalRegistry);
  }

  private long count(String className, VirtualMachinePhase phase) {
    long count = 0;
    for (VirtualMachine vm : vms.get()) {
      if (className.equals(vm.getSpec().hypervisorClassName) && vm.getStatus() != null && vm.getStatus().phase == phase) {
        count++;
      }
    }
    return count;
  }
}
