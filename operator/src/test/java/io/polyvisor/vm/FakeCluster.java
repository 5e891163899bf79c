package io.polyvisor.vm;

import static io.polyvisor.vm.Fixtures.kvmClass;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.storage.StorageClass;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.cluster.ClusterState;
import io.polyvisor.cluster.HypervisorNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The cluster as a reconciler under unit test sees it, set by the test: one KVM class (none when
 * null), two ready nodes of 4Gi, the VMs and the active migrations by VM name.
 */
final class FakeCluster implements ClusterState {

  HypervisorClass hypervisorClass = kvmClass(100);
  final List<HypervisorNode> nodes = new ArrayList<>(List.of(Fixtures.node("n1", "4Gi", true, false), Fixtures.node("n2", "4Gi", true, false)));
  final List<VirtualMachine> vms = new ArrayList<>();
  final Map<String, VirtualMachineMigration> migrations = new HashMap<>();

  @Override
  public Optional<HypervisorClass> hypervisorClass(String name) {
    return Optional.ofNullable(hypervisorClass).filter(c -> c.getMetadata().getName().equals(name));
  }

  @Override
  public StorageClass storageClass(String name) {
    return null;
  }

  @Override
  public Optional<Node> node(String name) {
    return Optional.empty();
  }

  @Override
  public List<HypervisorNode> nodesOf(HypervisorClass c) {
    return nodes;
  }

  @Override
  public List<VirtualMachine> virtualMachines() {
    return vms;
  }

  @Override
  public Optional<VirtualMachineMigration> activeMigration(VirtualMachine vm) {
    return Optional.ofNullable(migrations.get(vm.getMetadata().getName())).filter(ClusterState::isActive);
  }

  @Override
  public List<VirtualMachineMigration> migrationsOf(VirtualMachine vm) {
    return Optional.ofNullable(migrations.get(vm.getMetadata().getName())).stream().toList();
  }

  @Override
  public List<VirtualMachineMigration> migrations() {
    return List.copyOf(migrations.values());
  }
}
