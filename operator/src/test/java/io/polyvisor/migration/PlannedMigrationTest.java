package io.polyvisor.migration;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.polyvisor.api.v1alpha1.MigrationMethod;
import io.polyvisor.api.v1alpha1.MigrationReason;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import org.junit.jupiter.api.Test;

/** What an evacuation migration says about its VM and node. */
class PlannedMigrationTest {

  @Test
  void anEvacuationMigrationIsOwnedByItsVmWithoutBlockingItsDeletion() {
    VirtualMachine vm = new VirtualMachine();
    vm.setMetadata(new ObjectMetaBuilder().withNamespace("ns").withName("web").withUid("0b5e-uid").build());

    VirtualMachineMigration migration = PlannedMigration.of(vm, MigrationReason.Evacuation, "kvm-1", "kvm-2", MigrationMethod.Live, "ab12c");

    assertThat(migration.getMetadata().getOwnerReferences()).singleElement().satisfies(owner -> {
      assertThat(owner.getApiVersion()).isEqualTo("polyvisor.io/v1alpha1");
      assertThat(owner.getKind()).isEqualTo("VirtualMachine");
      assertThat(owner.getName()).isEqualTo("web");
      assertThat(owner.getUid()).isEqualTo("0b5e-uid");
      assertThat(owner).extracting(OwnerReference::getController, OwnerReference::getBlockOwnerDeletion)
          .containsExactly(false, false);
    });
    assertThat(migration.getMetadata().getLabels())
        .containsEntry(MigrationLabels.VM_UID, "0b5e-uid")
        .containsEntry(MigrationLabels.VM, "web")
        .containsEntry(MigrationLabels.EVACUATED_NODE, "kvm-1");
    assertThat(migration.getMetadata().getName()).isEqualTo("web-evac-ab12c");
    assertThat(migration.getMetadata().getNamespace()).isEqualTo("ns");
    assertThat(migration.getSpec().vmName).isEqualTo("web");
    assertThat(migration.getSpec().reason).isEqualTo(MigrationReason.Evacuation);
    assertThat(migration.getSpec().method).isEqualTo(MigrationMethod.Live);
  }
}
