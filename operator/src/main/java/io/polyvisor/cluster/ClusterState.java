package io.polyvisor.cluster;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.storage.StorageClass;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import java.util.List;
import java.util.Optional;

/** What the reconcilers read of the cluster besides the object they reconcile. */
public interface ClusterState {

  Optional<HypervisorClass> hypervisorClass(String name);

  /** The StorageClass of that name, or null. */
  StorageClass storageClass(String name);

  Optional<Node> node(String name);

  /** Every node that the class selects, as hypervisor hosts, by name. */
  List<HypervisorNode> nodesOf(HypervisorClass hypervisorClass);

  List<VirtualMachine> virtualMachines();

  /** Every VirtualMachineMigration, in every namespace, finished ones included. */
  List<VirtualMachineMigration> migrations();

  /** The VM's migration that is not final yet, if any: while it lasts, only the migration acts on the VM. */
  Optional<VirtualMachineMigration> activeMigration(VirtualMachine vm);

  /**
   * Every migration of the VM this operator knows of, finished ones included: their source and
   * target nodes are where a copy of the guest may be.
   */
  default List<VirtualMachineMigration> migrationsOf(VirtualMachine vm) {
    return activeMigration(vm).stream().toList();
  }

  static boolean isActive(VirtualMachineMigration migration) {
    return migration.getStatus() == null || migration.getStatus().phase == null || !migration.getStatus().phase.isFinal();
  }

  /**
   * Whether the migration is for this VM: its name, and its uid once the migration is bound to it
   * (an old migration of a VM deleted and created again is not the new VM's).
   */
  static boolean isFor(VirtualMachineMigration migration, VirtualMachine vm) {
    if (!vm.getMetadata().getNamespace().equals(migration.getMetadata().getNamespace())
        || !vm.getMetadata().getName().equals(migration.getSpec().vmName)) {
      return false;
    }
    String bound = migration.getMetadata().getLabels() == null ? null
        : migration.getMetadata().getLabels().get(io.polyvisor.migration.MigrationLabels.VM_UID);
    return bound == null || bound.equals(vm.getMetadata().getUid());
  }
}
