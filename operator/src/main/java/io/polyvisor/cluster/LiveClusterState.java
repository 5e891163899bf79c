package io.polyvisor.cluster;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.storage.StorageClass;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * The cluster read straight from the API server, for the migration and evacuation controllers:
 * they act rarely and must not decide on a stale view of where VMs are.
 */
public final class LiveClusterState implements ClusterState {

  private final KubernetesClient client;

  public LiveClusterState(KubernetesClient client) {
    this.client = client;
  }

  @Override
  public Optional<HypervisorClass> hypervisorClass(String name) {
    return Optional.ofNullable(client.resources(HypervisorClass.class).withName(name).get());
  }

  @Override
  public StorageClass storageClass(String name) {
    return client.storage().v1().storageClasses().withName(name).get();
  }

  @Override
  public Optional<Node> node(String name) {
    return Optional.ofNullable(client.nodes().withName(name).get());
  }

  @Override
  public List<HypervisorNode> nodesOf(HypervisorClass hypervisorClass) {
    return client.nodes().list().getItems().stream()
        .map(n -> HypervisorNode.of(n, hypervisorClass))
        .filter(n -> n.matches(hypervisorClass.getSpec().nodeSelector))
        .sorted(Comparator.comparing(HypervisorNode::name))
        .toList();
  }

  @Override
  public Optional<VirtualMachineMigration> activeMigration(VirtualMachine vm) {
    return client.resources(VirtualMachineMigration.class).inNamespace(vm.getMetadata().getNamespace()).list().getItems().stream()
        .filter(m -> ClusterState.isFor(m, vm))
        .filter(ClusterState::isActive)
        .findFirst();
  }

  @Override
  public List<VirtualMachine> virtualMachines() {
    return client.resources(VirtualMachine.class).inAnyNamespace().list().getItems();
  }

  @Override
  public List<VirtualMachineMigration> migrations() {
    return client.resources(VirtualMachineMigration.class).inAnyNamespace().list().getItems();
  }
}
