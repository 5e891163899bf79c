package io.polyvisor.planner;

import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.cluster.ClusterState;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * What is promised to VMs on each node, by node name: every VM counts on the node its status
 * names, and a VM under migration counts on its target too, from the moment the migration names
 * one (and until its status names the target), so that two moves decided one after the other do
 * not both count on the same free room.
 */
public final class Commitments {

  private final Map<String, Demand> byNode = new HashMap<>();

  private Commitments() {}

  public static Commitments none() {
    return new Commitments();
  }

  /** @param excludedUid the VM being placed, which is not counted; null to count every VM */
  public static Commitments of(Collection<VirtualMachine> vms, Collection<VirtualMachineMigration> migrations, String excludedUid) {
    Commitments commitments = new Commitments();
    Map<String, VirtualMachine> byKey = new HashMap<>();
    for (VirtualMachine vm : vms) {
      if (vm.getMetadata().getUid().equals(excludedUid)) {
        continue;
      }
      byKey.put(key(vm.getMetadata().getNamespace(), vm.getMetadata().getName()), vm);
      if (vm.getStatus() != null && vm.getStatus().nodeName != null) {
        commitments.add(vm.getStatus().nodeName, Demand.of(vm));
      }
    }
    for (VirtualMachine vm : byKey.values()) {
      landedElsewhere(vm, migrations).ifPresent(target -> commitments.add(target, Demand.of(vm)));
    }
    for (VirtualMachineMigration m : migrations) {
      VirtualMachine vm = byKey.get(key(m.getMetadata().getNamespace(), m.getSpec().vmName));
      String target = targetOf(m);
      if (vm != null && ClusterState.isActive(m) && target != null && vm.getStatus() != null
          && !target.equals(vm.getStatus().nodeName)) {
        commitments.add(target, Demand.of(vm));
      }
    }
    return commitments;
  }

  /**
   * Where the VM went when its latest migration has succeeded but its status still names that
   * migration's source: the moment before its own reconciler records the move.
   */
  public static Optional<String> landedElsewhere(VirtualMachine vm, Collection<VirtualMachineMigration> migrations) {
    if (vm.getStatus() == null || vm.getStatus().nodeName == null) {
      return Optional.empty();
    }
    return migrations.stream().filter(m -> ClusterState.isFor(m, vm))
        .filter(m -> m.getMetadata().getCreationTimestamp() != null)
        .max(Comparator.comparing((VirtualMachineMigration m) -> m.getMetadata().getCreationTimestamp()))
        .filter(m -> m.getStatus() != null && m.getStatus().phase == MigrationPhase.Succeeded)
        .filter(m -> vm.getStatus().nodeName.equals(m.getStatus().sourceNode) && m.getStatus().targetNode != null)
        .map(m -> m.getStatus().targetNode);
  }

  /** The node a migration goes to: the one it was asked for, else the one it chose. */
  static String targetOf(VirtualMachineMigration m) {
    return m.getSpec().targetNode != null ? m.getSpec().targetNode : m.getStatus() == null ? null : m.getStatus().targetNode;
  }

  public void add(String node, Demand demand) {
    byNode.merge(node, demand, Demand::plus);
  }

  public Demand on(String node) {
    return byNode.getOrDefault(node, Demand.NONE);
  }

  private static String key(String namespace, String name) {
    return namespace + "/" + name;
  }
}
