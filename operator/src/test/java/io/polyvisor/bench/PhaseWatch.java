package io.polyvisor.bench;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.api.v1alpha1.VirtualMachineStatus;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * When each VM of a namespace was first seen Running, and first seen Ready=True, by an informer
 * of the benchmark's own: to the millisecond, where the status's own timestamps are whole seconds.
 */
final class PhaseWatch implements AutoCloseable {

  private final Map<String, Instant> running = new ConcurrentHashMap<>();
  private final Map<String, Instant> ready = new ConcurrentHashMap<>();
  private final Map<String, Map<VirtualMachinePhase, Instant>> phases = new ConcurrentHashMap<>();
  private final SharedIndexInformer<VirtualMachine> informer;

  private PhaseWatch(KubernetesClient client, String namespace) {
    informer = client.resources(VirtualMachine.class).inNamespace(namespace).inform(new ResourceEventHandler<>() {
      @Override
      public void onAdd(VirtualMachine vm) {
        seen(vm);
      }

      @Override
      public void onUpdate(VirtualMachine before, VirtualMachine after) {
        seen(after);
      }

      @Override
      public void onDelete(VirtualMachine vm, boolean unknownFinalState) {}
    });
  }

  static PhaseWatch of(KubernetesClient client, String namespace) {
    return new PhaseWatch(client, namespace);
  }

  private void seen(VirtualMachine vm) {
    Instant now = Instant.now();
    VirtualMachineStatus status = vm.getStatus();
    if (status == null) {
      return;
    }
    if (status.phase != null) {
      phases.computeIfAbsent(vm.getMetadata().getName(), n -> new ConcurrentHashMap<>()).putIfAbsent(status.phase, now);
    }
    if (status.phase == VirtualMachinePhase.Running) {
      running.putIfAbsent(vm.getMetadata().getName(), now);
    }
    if (status.conditions != null && status.conditions.stream()
        .anyMatch(c -> VirtualMachineStatus.READY.equals(c.getType()) && "True".equals(c.getStatus()))) {
      ready.putIfAbsent(vm.getMetadata().getName(), now);
    }
  }

  int running() {
    return running.size();
  }

  Instant lastRunningAt() {
    return running.values().stream().max(Instant::compareTo).orElseThrow();
  }

  /** When the VM was first seen Ready=True, or null. */
  Instant readyAt(String name) {
    return ready.get(name);
  }

  /** How many VMs have been seen with a phase: reconciled at least once. */
  int withAPhase() {
    return phases.size();
  }

  /** When the first VM was seen with a phase. */
  Instant firstPhaseAt() {
    return phases.values().stream().flatMap(p -> p.values().stream()).min(Instant::compareTo).orElseThrow();
  }

  /** When the VM was first seen in {@code phase}, or null. */
  Instant phaseAt(String name, VirtualMachinePhase phase) {
    return phases.getOrDefault(name, Map.of()).get(phase);
  }

  @Override
  public void close() {
    informer.close();
  }
}
