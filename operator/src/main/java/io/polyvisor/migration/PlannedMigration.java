package io.polyvisor.migration;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.polyvisor.api.v1alpha1.MigrationMethod;
import io.polyvisor.api.v1alpha1.MigrationReason;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import java.util.Map;

/**
 * A migration the operator decided on (emptying a cordoned node, relieving an overloaded one), to
 * the target its planner chose, so that two moves decided in one pass do not count on the same
 * room. It is labelled with the node it leaves (under {@link MigrationLabels#EVACUATED_NODE} or
 * {@link MigrationLabels#REBALANCED_NODE}) and the VM (name and uid), and owned by the VM, so that
 * the garbage collector deletes it with the VM.
 */
public final class PlannedMigration {

  private PlannedMigration() {}

  /** @param suffix what makes the name unique among the VM's migrations */
  public static VirtualMachineMigration of(VirtualMachine vm, MigrationReason reason, String node, String target,
      MigrationMethod method, String suffix) {
    boolean evacuation = reason == MigrationReason.Evacuation;
    VirtualMachineMigration migration = new VirtualMachineMigration();
    migration.setMetadata(new ObjectMetaBuilder()
        .withName(truncate(vm.getMetadata().getName(), 240) + (evacuation ? "-evac-" : "-rebal-") + suffix)
        .withNamespace(vm.getMetadata().getNamespace())
        .withLabels(Map.of(
            evacuation ? MigrationLabels.EVACUATED_NODE : MigrationLabels.REBALANCED_NODE, node,
            MigrationLabels.VM, truncate(vm.getMetadata().getName(), 63),
            MigrationLabels.VM_UID, vm.getMetadata().getUid()))
        .withOwnerReferences(ownerReference(vm))
        .build());
    migration.getSpec().vmName = vm.getMetadata().getName();
    migration.getSpec().reason = reason;
    migration.getSpec().method = method;
    migration.getSpec().targetNode = target;
    return migration;
  }

  /**
   * The VM as a migration's owner: not its controller (a VM is not made of its migrations) and
   * not blocking its deletion, which does not wait for them.
   */
  public static OwnerReference ownerReference(VirtualMachine vm) {
    return new OwnerReferenceBuilder()
        .withApiVersion(HasMetadata.getApiVersion(VirtualMachine.class))
        .withKind(HasMetadata.getKind(VirtualMachine.class))
        .withName(vm.getMetadata().getName())
        .withUid(vm.getMetadata().getUid())
        .withController(false)
        .withBlockOwnerDeletion(false)
        .build();
  }

  private static String truncate(String s, int max) {
    return s.length() <= max ? s : s.substring(0, max);
  }
}
