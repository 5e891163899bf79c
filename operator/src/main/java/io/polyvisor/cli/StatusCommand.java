package io.polyvisor.cli;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.cluster.NodeConditions;
import io.polyvisor.cluster.HypervisorNode;
import io.polyvisor.cluster.LiveClusterState;
import io.polyvisor.evacuation.DrainPlans;
import io.polyvisor.evacuation.EvacuationReconciler;
import io.polyvisor.planner.Bytes;
import io.polyvisor.planner.Capacity;
import io.polyvisor.planner.NodeLoad;
import io.polyvisor.rebalance.RebalanceReconciler;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code kubectl polyvisor status}: per hypervisor node, its VMs, committed memory and vCPUs, memory
 * pressure (as rebalancing reads it: the larger of committed and used), evacuation and rebalancing.
 */
@Command(name = "status", description = "Per hypervisor node: its VMs, memory and vCPUs committed to guests against what the class lets"
    + " it hold, the memory pressure, and whether it is being evacuated or rebalanced.")
final class StatusCommand implements Callable<Integer> {

  private static final String REBALANCING = RebalanceReconciler.CONDITION;

  @ParentCommand KubectlPolyvisor root;
  @Spec CommandSpec spec;

  @Override
  public Integer call() {
    LiveClusterState cluster = new LiveClusterState(root.client());
    List<HypervisorClass> classes = root.client().resources(HypervisorClass.class).list().getItems();
    List<VirtualMachine> vms = cluster.virtualMachines();
    Table table = new Table("NODE", "CLASS", "READY", "CORDONED", "VMS", "MEMORY", "PRESSURE", "VCPUS", "EVACUATION", "REBALANCING");
    List<Node> nodes = root.client().nodes().list().getItems().stream()
        .sorted(Comparator.comparing(n -> n.getMetadata().getName())).toList();
    int shown = 0;
    for (Node node : nodes) {
      var hvc = DrainPlans.classOf(node, classes);
      if (hvc.isEmpty()) {
        continue;
      }
      HypervisorNode host = HypervisorNode.of(node, hvc.get());
      Capacity capacity = Capacity.of(hvc.get());
      List<VirtualMachine> here = vms.stream().filter(vm -> vm.getStatus() != null && host.name().equals(vm.getStatus().nodeName)).toList();
      // Memory pressure as rebalancing reads it: the larger of committed and used memory. (The
      // guests' measured CPU use is the operator's, read from the hosts, which the plugin does not.)
      NodeLoad load = NodeLoad.empty(host, capacity);
      for (VirtualMachine vm : here) {
        load = load.plus(vm, 0);
      }
      long memory = capacity.memory(host);
      table.row(host.name(), hvc.get().getMetadata().getName(), host.ready() ? "True" : "False", host.cordoned() ? "True" : "False",
          here.size(), Bytes.format(load.committedBytes()) + "/" + Bytes.format(memory),
          memory == 0 ? null : Math.round(load.memoryPressure()) + "%",
          load.vcpus() + "/" + capacity.vcpus(host), reason(node, EvacuationReconciler.CONDITION), reason(node, REBALANCING));
      shown++;
    }
    if (shown == 0) {
      spec.commandLine().getOut().println("No node is selected by any HypervisorClass (kubectl get hvc lists the classes).");
    } else {
      table.print(spec.commandLine().getOut());
    }
    return 0;
  }

  /** The condition's reason while it is True, else -. */
  private static String reason(Node node, String type) {
    return NodeConditions.find(node, type).filter(c -> "True".equals(c.getStatus())).map(NodeCondition::getReason).orElse(null);
  }
}
