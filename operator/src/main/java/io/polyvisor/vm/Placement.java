package io.polyvisor.vm;

import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.cluster.HypervisorNode;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Where a VM may run: a node that its class's and its own nodeSelector both select, Ready, not
 * cordoned, with room for the VM's memory (Static: size, Dynamic: minimum) within the node's
 * allocatable memory times the class's overcommit. Among those, the one with the most room left,
 * which spreads VMs out. When none fits, the reason says which filter emptied the list, with the
 * numbers.
 */
public final class Placement {

  private Placement() {}

  /** The outcome of a placement. */
  public sealed interface Decision permits Placed, Unschedulable {}

  public record Placed(HypervisorNode node) implements Decision {}

  /** @param reason a CamelCase condition reason; {@code message} says it in words with numbers */
  public record Unschedulable(String reason, String message) implements Decision {}

  /**
   * @param reservedBytes memory already promised to VMs on each node, by node name
   * @param excluded nodes not to consider (the source of a migration, nodes the VM was given up on while they were declared down)
   */
  public static Decision place(
      VirtualMachine vm,
      HypervisorClass hypervisorClass,
      List<HypervisorNode> nodes,
      Map<String, Long> reservedBytes,
      Set<String> excluded) {
    String className = hypervisorClass.getMetadata().getName();
    List<HypervisorNode> ofClass =
        nodes.stream().filter(n -> n.matches(hypervisorClass.getSpec().nodeSelector)).filter(n -> !excluded.contains(n.name())).toList();
    if (ofClass.isEmpty()) {
      return new Unschedulable(
          "NoNodeOfClass",
          "no " + (excluded.isEmpty() ? "" : "other ") + "node carries the labels of HypervisorClass " + className + " ("
              + labels(hypervisorClass.getSpec().nodeSelector) + ")");
    }
    List<HypervisorNode> selected = ofClass.stream().filter(n -> n.matches(vm.getSpec().nodeSelector)).toList();
    if (selected.isEmpty()) {
      return new Unschedulable(
          "NoNodeMatchesSelector",
          "none of the " + ofClass.size() + " nodes of class " + className + " carries spec.nodeSelector ("
              + labels(vm.getSpec().nodeSelector) + ")");
    }
    List<HypervisorNode> ready = selected.stream().filter(HypervisorNode::ready).toList();
    if (ready.isEmpty()) {
      return new Unschedulable("NoReadyNode", "none of the " + selected.size() + " nodes of class " + className + " is Ready");
    }
    List<HypervisorNode> schedulable = ready.stream().filter(n -> !n.cordoned()).toList();
    if (schedulable.isEmpty()) {
      return new Unschedulable(
          "AllNodesCordoned", "all " + ready.size() + " Ready nodes of class " + className + " are cordoned");
    }
    long needed = MemoryRequest.reserved(vm);
    int overcommit = hypervisorClass.getSpec().memoryOvercommitPercent == null ? 100 : hypervisorClass.getSpec().memoryOvercommitPercent;
    Comparator<HypervisorNode> mostRoom =
        Comparator.comparingLong((HypervisorNode n) -> free(n, overcommit, reservedBytes)).reversed().thenComparing(HypervisorNode::name);
    return schedulable.stream()
        .filter(n -> free(n, overcommit, reservedBytes) >= needed)
        .min(mostRoom)
        .<Decision>map(Placed::new)
        .orElseGet(
            () ->
                new Unschedulable(
                    "InsufficientMemory",
                    "no " + className + " node has " + Bytes.format(needed) + " of memory free: "
                        + schedulable.stream()
                            .sorted(Comparator.comparing(HypervisorNode::name))
                            .map(n -> n.name() + " has " + Bytes.format(Math.max(0, free(n, overcommit, reservedBytes)))
                                + " of " + Bytes.format(capacity(n, overcommit)))
                            .collect(Collectors.joining(", "))));
  }

  static long capacity(HypervisorNode node, int overcommitPercent) {
    return node.allocatableMemoryBytes() * overcommitPercent / 100;
  }

  private static long free(HypervisorNode node, int overcommitPercent, Map<String, Long> reserved) {
    return capacity(node, overcommitPercent) - reserved.getOrDefault(node.name(), 0L);
  }

  private static String labels(Map<String, String> selector) {
    return selector == null || selector.isEmpty()
        ? "none"
        : selector.entrySet().stream().sorted(Map.Entry.comparingByKey()).map(e -> e.getKey() + "=" + e.getValue())
            .collect(Collectors.joining(","));
  }
}
