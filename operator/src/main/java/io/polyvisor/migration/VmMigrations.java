package io.polyvisor.migration;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.cluster.ClusterState;
import java.util.HashMap;
import java.util.Map;

/** What the VM reconciler asks of a VM's migrations: cancel one, and remove them all with the VM. */
public class VmMigrations {

  /** For unit tests without an API server. */
  public static final VmMigrations NONE = new VmMigrations(null);

  private final KubernetesClient client;

  public VmMigrations(KubernetesClient client) {
    this.client = client;
  }

  /** Whether someone has asked the migration to stop already (annotation {@link MigrationLabels#CANCEL}). */
  public static boolean cancelRequested(VirtualMachineMigration migration) {
    return migration.getMetadata().getAnnotations() != null && migration.getMetadata().getAnnotations().containsKey(MigrationLabels.CANCEL);
  }

  /** Whether the migration holds its VM for a person (annotation {@link MigrationLabels#HOLD}). */
  public static boolean held(VirtualMachineMigration migration) {
    return migration.getMetadata().getAnnotations() != null && migration.getMetadata().getAnnotations().containsKey(MigrationLabels.HOLD);
  }

  /**
   * Asks the migration to stop (annotation {@link MigrationLabels#CANCEL}); a move past its point
   * of no return finishes. Returns whether it was asked now (false: it had been asked already).
   */
  public boolean cancel(VirtualMachineMigration migration, String reason) {
    if (client == null || cancelRequested(migration)) {
      return false;
    }
    client.resource(migration).edit(m -> {
      Map<String, String> annotations = new HashMap<>(m.getMetadata().getAnnotations() == null ? Map.of() : m.getMetadata().getAnnotations());
      annotations.putIfAbsent(MigrationLabels.CANCEL, reason);
      m.getMetadata().setAnnotations(annotations);
      return m;
    });
    return true;
  }

  /**
   * Deletes the VM's migrations, all final by now. Their owner reference does the same where a
   * garbage collector runs; this does not wait for one.
   */
  public void deleteAll(VirtualMachine vm) {
    if (client == null) {
      return;
    }
    client.resources(VirtualMachineMigration.class).inNamespace(vm.getMetadata().getNamespace()).list().getItems().stream()
        .filter(m -> ClusterState.isFor(m, vm))
        .forEach(m -> client.resource(m).delete());
  }
}
