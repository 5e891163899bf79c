package io.polyvisor.evacuation;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.storage.StorageClass;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.cluster.ClusterState;
import io.polyvisor.planner.DrainPlan;
import io.polyvisor.planner.DrainPlanner;
import io.polyvisor.planner.EvacuationSnapshot;
import io.polyvisor.planner.Throughput;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/** Gathers what a drain plan reads from the cluster, for the kubectl plugin and for the evacuation's own estimate. */
public final class DrainPlans {

  private DrainPlans() {}

  /** The class whose nodeSelector the node's labels satisfy, if any. */
  public static Optional<HypervisorClass> classOf(Node node, List<HypervisorClass> classes) {
    Map<String, String> labels = node.getMetadata().getLabels() == null ? Map.of() : node.getMetadata().getLabels();
    return classes.stream()
        .filter(c -> c.getSpec().nodeSelector != null && c.getSpec().nodeSelector.entrySet().stream()
            .allMatch(e -> e.getValue().equals(labels.get(e.getKey()))))
        .findFirst();
  }

  /**
   * The plan for the node as the cluster is now.
   *
   * @param since when the node was cordoned, if it is; else the plan is for a cordon now
   */
  public static DrainPlan of(ClusterState cluster, HypervisorClass hvc, String node, boolean cordoned, Instant since, Instant now) {
    List<VirtualMachine> vms = cluster.virtualMachines();
    List<VirtualMachineMigration> migrations = cluster.migrations();
    EvacuationSnapshot snapshot = new EvacuationSnapshot(node, hvc, cluster.nodesOf(hvc), vms, migrations, since, now);
    String className = hvc.getMetadata().getName();
    Set<String> ofClass = vms.stream().filter(vm -> className.equals(vm.getSpec().hypervisorClassName))
        .map(vm -> vm.getMetadata().getNamespace() + "/" + vm.getMetadata().getName()).collect(Collectors.toSet());
    List<VirtualMachineMigration> classMigrations = migrations.stream()
        .filter(m -> ofClass.contains(m.getMetadata().getNamespace() + "/" + m.getSpec().vmName)).toList();
    Integer bandwidth = hvc.getSpec().migration == null ? null : hvc.getSpec().migration.bandwidthMiBps;
    return DrainPlanner.plan(snapshot, cordoned, Throughput.of(className, classMigrations, bandwidth), storageClass -> shared(cluster, storageClass));
  }

  private static boolean shared(ClusterState cluster, String storageClassName) {
    StorageClass storageClass = cluster.storageClass(storageClassName);
    return storageClass != null && storageClass.getParameters() != null
        && Boolean.parseBoolean(storageClass.getParameters().getOrDefault("shared", "false"));
  }
}
