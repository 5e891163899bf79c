package io.polyvisor.cluster;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.storage.StorageClass;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.IndexerResourceCache;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/**
 * The cluster objects the VM reconciler reads, from informer caches: Nodes, HypervisorClasses and
 * StorageClasses. A change to any of them wakes the VMs it can affect, so that a Pending VM is
 * placed as soon as a node or capacity appears, without polling.
 */
public final class ClusterView implements ClusterState {

  private final InformerEventSource<Node, VirtualMachine> nodes;
  private final InformerEventSource<HypervisorClass, VirtualMachine> classes;
  private final InformerEventSource<StorageClass, VirtualMachine> storageClasses;
  private final InformerEventSource<VirtualMachineMigration, VirtualMachine> migrations;
  private final IndexerResourceCache<VirtualMachine> vms;

  public ClusterView(EventSourceContext<VirtualMachine> context) {
    this.vms = context.getPrimaryCache();
    this.nodes =
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(Node.class, VirtualMachine.class)
                .withName("nodes")
                .withSecondaryToPrimaryMapper(node -> affectedBy(vm -> true))
                .withOnUpdateFilter((before, after) -> !NodeFacts.of(before).equals(NodeFacts.of(after)))
                .build(),
            context);
    this.classes =
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(HypervisorClass.class, VirtualMachine.class)
                .withName("hypervisor-classes")
                .withSecondaryToPrimaryMapper(
                    c -> affectedBy(vm -> c.getMetadata().getName().equals(vm.getSpec().hypervisorClassName)))
                .build(),
            context);
    this.storageClasses =
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(StorageClass.class, VirtualMachine.class)
                .withName("storage-classes")
                .withSecondaryToPrimaryMapper(
                    sc -> affectedBy(vm -> vm.getSpec().disks != null
                        && vm.getSpec().disks.stream().anyMatch(d -> sc.getMetadata().getName().equals(d.storageClassName))))
                .build(),
            context);
    this.migrations =
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(VirtualMachineMigration.class, VirtualMachine.class)
                .withName("migrations")
                .withSecondaryToPrimaryMapper(
                    m -> Set.of(new ResourceID(m.getSpec().vmName, m.getMetadata().getNamespace())))
                .build(),
            context);
  }

  public List<EventSource<?, VirtualMachine>> eventSources() {
    return List.of(nodes, classes, storageClasses, migrations);
  }

  @Override
  public List<VirtualMachineMigration> migrationsOf(VirtualMachine vm) {
    return migrations.list().filter(m -> ClusterState.isFor(m, vm)).toList();
  }

  @Override
  public Optional<VirtualMachineMigration> activeMigration(VirtualMachine vm) {
    return migrations.list()
        .filter(m -> ClusterState.isFor(m, vm))
        .filter(ClusterState::isActive)
        .findFirst();
  }

  @Override
  public Optional<HypervisorClass> hypervisorClass(String name) {
    return classes.get(new ResourceID(name));
  }

  @Override
  public StorageClass storageClass(String name) {
    return storageClasses.get(new ResourceID(name)).orElse(null);
  }

  @Override
  public Optional<Node> node(String name) {
    return nodes.get(new ResourceID(name));
  }

  /** Every node that the class selects, as hypervisor hosts. */
  @Override
  public List<HypervisorNode> nodesOf(HypervisorClass hypervisorClass) {
    return nodes.list()
        .map(n -> HypervisorNode.of(n, hypervisorClass))
        .filter(n -> n.matches(hypervisorClass.getSpec().nodeSelector))
        .sorted(java.util.Comparator.comparing(HypervisorNode::name))
        .toList();
  }

  /** Every VirtualMachine the operator knows of. */
  @Override
  public List<VirtualMachine> virtualMachines() {
    return vms.list().toList();
  }

  @Override
  public List<VirtualMachineMigration> migrations() {
    return migrations.list().toList();
  }

  private Set<ResourceID> affectedBy(Predicate<VirtualMachine> filter) {
    return vms.list().filter(filter).map(ResourceID::fromResource).collect(Collectors.toSet());
  }

  /** The parts of a Node that placement and evacuation read; heartbeat-only updates are ignored. */
  private record NodeFacts(Object labels, Object annotations, Boolean unschedulable, boolean outOfService, Object allocatable,
      Object ready) {
    static NodeFacts of(Node node) {
      Object ready =
          node.getStatus() == null || node.getStatus().getConditions() == null
              ? null
              : node.getStatus().getConditions().stream()
                  .filter(c -> "Ready".equals(c.getType()))
                  .map(c -> c.getStatus())
                  .findFirst()
                  .orElse(null);
      return new NodeFacts(
          node.getMetadata().getLabels(),
          node.getMetadata().getAnnotations(),
          node.getSpec() == null ? null : node.getSpec().getUnschedulable(),
          HypervisorNode.outOfService(node),
          node.getStatus() == null ? null : node.getStatus().getAllocatable(),
          ready);
    }
  }
}
