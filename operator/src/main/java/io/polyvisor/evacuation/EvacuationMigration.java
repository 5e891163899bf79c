package io.polyvisor.evacuation;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.polyvisor.api.v1alpha1.MigrationMethod;
import io.polyvisor.api.v1alpha1.MigrationReason;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.migration.MigrationLabels;
import java.util.Map;

/**
 * The migration that moves one VM off a cordoned node, to the target the evacuation planner chose
 * (so that two moves decided in one pass do not count on the same room). It is labelled with the node and the VM
 * (name and uid), and owned by the VM, so that the garbage collector deletes it with the VM.
 */
final class EvacuationMigration {

  private EvacuationMigration() {}

  /** @param suffix what makes the name unique among the VM's migrations */
  static VirtualMachineMigration of(VirtualMachine vm, String node, String target, MigrationMethod method, String suffix) {
    VirtualMachineMigration migration = new VirtualMachineMigration();
    migration.setMetadata(new ObjectMetaBuilder()
        .withName(truncate(vm.getMetadata().getName(), 240) + "-evac-" + suffix)
        .withNamespace(vm.getMetadata().getNamespace())
        .withLabels(Map.of(
            MigrationLabels.EVACUATED_NODE, node,
            MigrationLabels.VM, truncate(vm.getMetadata().getName(), 63),
            MigrationLabels.VM_UID, vm.getMetadata().getUid()))
        // Not the VM's controller: a VM is not made of its migrations, and its deletion does not
        // wait for them.
        .withOwnerReferences(new OwnerReferenceBuilder()
            .withApiVersion(HasMetadata.getApiVersion(VirtualMachine.class))
            .withKind(HasMetadata.getKind(VirtualMachine.class))
            .withName(vm.getMetadata().getName())
            .withUid(vm.getMetadata().getUid())
            .withController(false)
            .withBlockOwnerDeletion(false)
            .build())
        .build());
    migration.getSpec().vmName = vm.getMetadata().getName();
    migration.getSpec().reason = MigrationReason.Evacuation;
    migration.getSpec().method = method;
    migration.getSpec().targetNode = target;
    return migration;
  }

  private static String truncate(String s, int max) {
    return s.length() <= max ? s : s.substring(0, max);
  }
}
