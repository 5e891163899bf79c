package io.polyvisor.cli;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.polyvisor.api.v1alpha1.MigrationMethod;
import io.polyvisor.api.v1alpha1.MigrationReason;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.migration.PlannedMigration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code kubectl polyvisor migrate VM [--to NODE]}: asks for one migration, as a VirtualMachineMigration. */
@Command(name = "migrate", description = "Move VM to another node (live unless --restart), to NODE if given, else where it fits best.")
final class MigrateCommand implements Callable<Integer> {

  @ParentCommand KubectlPolyvisor root;
  @Spec CommandSpec spec;

  @Parameters(paramLabel = "VM", description = "The VirtualMachine to move.")
  String vmName;

  @Option(names = "--to", paramLabel = "NODE", description = "The node to move it to.")
  String target;

  @Option(names = "--restart", description = "Shut the guest down and start it on the target instead of moving it live.")
  boolean restart;

  @Override
  public Integer call() {
    String namespace = root.namespace();
    VirtualMachine vm = Lookups.vm(root.client(), namespace, vmName);
    if (target != null) {
      String targetClass = Lookups.classOf(root.client(), Lookups.node(root.client(), target)).getMetadata().getName();
      if (!targetClass.equals(vm.getSpec().hypervisorClassName)) {
        throw new KubectlPolyvisor.UserError("node \"" + target + "\" is of HypervisorClass " + targetClass + ", and virtualmachine \""
            + vmName + "\" of " + vm.getSpec().hypervisorClassName + ": a VM only migrates between nodes of its own class");
      }
    }
    VirtualMachineMigration migration = new VirtualMachineMigration();
    migration.setMetadata(new ObjectMetaBuilder().withGenerateName(vmName + "-").withNamespace(namespace)
        // Deleted with its VM, as the evacuation's migrations are.
        .withOwnerReferences(PlannedMigration.ownerReference(vm))
        .build());
    migration.getSpec().vmName = vmName;
    migration.getSpec().targetNode = target;
    migration.getSpec().reason = MigrationReason.Manual;
    migration.getSpec().method = restart ? MigrationMethod.Restart : MigrationMethod.Live;
    VirtualMachineMigration created = root.client().resource(migration).create();
    spec.commandLine().getOut().println("virtualmachinemigration/" + created.getMetadata().getName() + " created: "
        + namespace + "/" + vmName + (target == null ? "" : " to " + target)
        + " (kubectl get pvmim " + created.getMetadata().getName() + " -n " + namespace + " -w follows it)");
    return 0;
  }
}
