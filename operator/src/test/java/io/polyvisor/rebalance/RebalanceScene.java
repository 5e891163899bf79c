package io.polyvisor.rebalance;

import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.MigrationReason;
import io.polyvisor.api.v1alpha1.RebalancingPolicy;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.testing.ClassTestbed;
import io.polyvisor.testing.RealApiServer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * What the rebalancing tests stand on: a {@link ClassTestbed} whose class rebalances with the
 * given policy, a namespace for the test's VMs, and what they read back (Rebalance migrations,
 * the nodes' Rebalancing condition and Events). Closing deletes the VMs, waits until they are
 * gone, then stops the testbed.
 */
final class RebalanceScene implements AutoCloseable {

  final ClassTestbed testbed;
  final KubernetesClient client;
  final String namespace;
  /** The class's local StorageClass: the class's name and {@code -local}. */
  final String storageClass;

  private RebalanceScene(ClassTestbed testbed, String namespace, String storageClass) {
    this.testbed = testbed;
    this.client = testbed.client;
    this.namespace = namespace;
    this.storageClass = storageClass;
  }

  static RebalanceScene start(Path work, String className, List<String> nodes, String memory, Consumer<RebalancingPolicy> policy,
      Map<String, String> operatorEnvironment) throws Exception {
    ClassTestbed testbed = ClassTestbed.start(work, className, className + "-local", nodes, memory, (HypervisorClass hvc) -> {
      hvc.getSpec().rebalancing = new RebalancingPolicy();
      policy.accept(hvc.getSpec().rebalancing);
    }, operatorEnvironment);
    return new RebalanceScene(testbed, RealApiServer.newNamespace(className.replace("it-", "")), className + "-local");
  }

  VirtualMachine create(String manifest) {
    VirtualMachine vm = client.getKubernetesSerialization().unmarshal(manifest, VirtualMachine.class);
    return client.resource(vm).inNamespace(namespace).create();
  }

  List<VirtualMachineMigration> rebalanceMigrations() {
    return client.resources(VirtualMachineMigration.class).inNamespace(namespace).list().getItems().stream()
        .filter(m -> m.getSpec().reason == MigrationReason.Rebalance).toList();
  }

  Optional<NodeCondition> rebalancing(String node) {
    return client.nodes().withName(node).get().getStatus().getConditions().stream()
        .filter(c -> RebalanceReconciler.CONDITION.equals(c.getType())).findFirst();
  }

  /** The messages of the Events of that reason on the node. */
  List<String> events(String node, String reason) {
    return client.v1().events().inNamespace("default").list().getItems().stream()
        .filter(e -> node.equals(e.getInvolvedObject().getName()) && reason.equals(e.getReason()))
        .map(Event::getMessage).toList();
  }

  VirtualMachinePhase phase(VirtualMachine vm) {
    VirtualMachine current = get(vm);
    return current == null || current.getStatus() == null ? null : current.getStatus().phase;
  }

  VirtualMachine get(VirtualMachine vm) {
    return client.resources(VirtualMachine.class).inNamespace(namespace).withName(vm.getMetadata().getName()).get();
  }

  @Override
  public void close() {
    try {
      client.resources(VirtualMachine.class).inNamespace(namespace).delete();
      await().atMost(Duration.ofSeconds(120))
          .until(() -> client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems().isEmpty());
    } finally {
      testbed.close();
    }
  }
}
