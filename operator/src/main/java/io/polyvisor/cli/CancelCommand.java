package io.polyvisor.cli;

import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.cluster.ClusterState;
import io.polyvisor.migration.VmMigrations;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code kubectl polyvisor cancel MIGRATION}: asks a migration to stop (the polyvisor.io/cancel annotation). */
@Command(name = "cancel", description = "Stop a migration: a queued one ends Aborted, a running one is aborted and its guest stays"
    + " on its source; one past its switch-over (post-copy) finishes.")
final class CancelCommand implements Callable<Integer> {

  @ParentCommand KubectlPolyvisor root;
  @Spec CommandSpec spec;

  @Parameters(paramLabel = "MIGRATION", description = "The VirtualMachineMigration to cancel.")
  String migrationName;

  @Option(names = "--reason", description = "Why, as the migration's message will say (default: cancelled with kubectl polyvisor).")
  String reason = "cancelled with kubectl polyvisor";

  @Override
  public Integer call() {
    String namespace = root.namespace();
    VirtualMachineMigration migration = Lookups.migration(root.client(), namespace, migrationName);
    if (!ClusterState.isActive(migration)) {
      throw new KubectlPolyvisor.UserError("virtualmachinemigration \"" + migrationName + "\" has already ended ("
          + migration.getStatus().phase + "): nothing to cancel");
    }
    boolean asked = new VmMigrations(root.client()).cancel(migration, reason);
    spec.commandLine().getOut().println("virtualmachinemigration/" + migrationName
        + (asked ? " cancel requested" : " had been asked to cancel already") + " (kubectl get pvmim " + migrationName + " -n "
        + namespace + " -w follows it)");
    return 0;
  }
}
