package io.polyvisor.cli;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.cli.KubectlPolyvisor.UserError;
import io.polyvisor.evacuation.DrainPlans;
import java.util.Map;
import java.util.stream.Collectors;

/** Reads the objects a command names, and says plainly which one does not exist. */
final class Lookups {

  private Lookups() {}

  static Node node(KubernetesClient client, String name) {
    Node node = client.nodes().withName(name).get();
    if (node == null) {
      throw new UserError("node \"" + name + "\" not found (kubectl get nodes lists them)");
    }
    return node;
  }

  static HypervisorClass classOf(KubernetesClient client, Node node) {
    return DrainPlans.classOf(node, client.resources(HypervisorClass.class).list().getItems())
        .orElseThrow(() -> new UserError("node \"" + node.getMetadata().getName() + "\" is not a hypervisor node: no HypervisorClass"
            + " selects its labels (" + labels(node.getMetadata().getLabels()) + ")"));
  }

  static VirtualMachine vm(KubernetesClient client, String namespace, String name) {
    VirtualMachine vm = client.resources(VirtualMachine.class).inNamespace(namespace).withName(name).get();
    if (vm == null) {
      throw new UserError("virtualmachine \"" + name + "\" not found in namespace " + namespace);
    }
    return vm;
  }

  static VirtualMachineMigration migration(KubernetesClient client, String namespace, String name) {
    VirtualMachineMigration migration = client.resources(VirtualMachineMigration.class).inNamespace(namespace).withName(name).get();
    if (migration == null) {
      throw new UserError("virtualmachinemigration \"" + name + "\" not found in namespace " + namespace
          + " (kubectl get pvmim -n " + namespace + " lists them)");
    }
    return migration;
  }

  static boolean cordoned(Node node) {
    return node.getSpec() != null && Boolean.TRUE.equals(node.getSpec().getUnschedulable());
  }

  private static String labels(Map<String, String> labels) {
    return labels == null || labels.isEmpty() ? "none"
        : labels.entrySet().stream().sorted(Map.Entry.comparingByKey()).map(e -> e.getKey() + "=" + e.getValue())
            .collect(Collectors.joining(","));
  }
}
