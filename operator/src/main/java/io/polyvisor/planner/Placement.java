package io.polyvisor.planner;

import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.cluster.HypervisorNode;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Where a VM may run: a node that its class's and its own nodeSelector both select, Ready, not
 * cordoned, whose hypervisor offers the CPU model the guest needs (see {@link CpuModels}), with room for the VM's memory (Static: size, Dynamic: minimum) within the node's
 * allocatable memory times the class's memory overcommit, and for its vCPUs within the node's
 * allocatable CPUs times the class's CPU overcommit ratio. Among those, the one with the most
 * memory left, which spreads VMs out. When none fits, the reason says which filter emptied the list, with the
 * numbers.
 */
public final class Placement {

  /** The reason when no node offers the CPU model the guest needs. */
  public static final String CPU_MODEL_NOT_OFFERED = "CpuModelNotOffered";

  private Placement() {}

  /** The outcome of a placement. */
  public sealed interface Decision permits Placed, Unschedulable {}

  public record Placed(HypervisorNode node) implements Decision {}

  /** @param reason a CamelCase condition reason; {@code message} says it in words with numbers */
  public record Unschedulable(String reason, String message) implements Decision {}

  /** Where to start a VM afresh: its guest is defined with the class's CPU. */
  public static Decision place(
      VirtualMachine vm, HypervisorClass hypervisorClass, List<HypervisorNode> nodes, Commitments committed, Set<String> excluded) {
    return place(vm, hypervisorClass, nodes, committed, excluded, CpuModels.required(vm, hypervisorClass, false));
  }

  /**
   * @param committed what is already promised to VMs on each node
   * @param excluded nodes not to consider (the source of a migration, nodes the VM was given up on while they were declared down)
   * @param cpu the CPU model the guest needs (see {@link CpuModels#required}); none: any node's CPU is left to the
   *     migration controller's comparison
   */
  public static Decision place(
      VirtualMachine vm,
      HypervisorClass hypervisorClass,
      List<HypervisorNode> nodes,
      Commitments committed,
      Set<String> excluded,
      Optional<CpuModels.Requirement> cpu) {
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
    List<HypervisorNode> uncordoned = ready.stream().filter(n -> !n.cordoned()).toList();
    if (uncordoned.isEmpty()) {
      return new Unschedulable(
          "AllNodesCordoned", "all " + ready.size() + " Ready nodes of class " + className + " are cordoned");
    }
    List<HypervisorNode> schedulable = cpu.map(c -> uncordoned.stream().filter(n -> CpuModels.offers(n, c)).toList()).orElse(uncordoned);
    if (schedulable.isEmpty()) {
      CpuModels.Requirement c = cpu.get();
      return new Unschedulable(
          CPU_MODEL_NOT_OFFERED,
          "the hypervisor of none of the " + uncordoned.size() + " Ready, uncordoned nodes of class " + className + " offers CPU model "
              + c.model() + " (" + c.source() + "): " + uncordoned.stream().map(HypervisorNode::name).sorted().collect(Collectors.joining(", "))
              + " lack the label " + CpuModels.LABEL_PREFIX + c.model() + (c.live() ? "" : "=true"));
    }
    Demand needed = Demand.of(vm);
    Capacity capacity = Capacity.of(hypervisorClass);
    Comparator<HypervisorNode> mostRoom =
        Comparator.comparingLong((HypervisorNode n) -> capacity.freeMemory(n, committed)).reversed().thenComparing(HypervisorNode::name);
    List<HypervisorNode> withMemory = schedulable.stream().filter(n -> capacity.freeMemory(n, committed) >= needed.memoryBytes()).toList();
    if (withMemory.isEmpty()) {
      return new Unschedulable(
          "InsufficientMemory",
          "no " + className + " node has " + Bytes.format(needed.memoryBytes()) + " of memory free: "
              + describe(schedulable, n -> Bytes.format(Math.max(0, capacity.freeMemory(n, committed))) + " of "
                  + Bytes.format(capacity.memory(n))));
    }
    return withMemory.stream()
        .filter(n -> capacity.freeVcpus(n, committed) >= needed.vcpus())
        .min(mostRoom)
        .<Decision>map(Placed::new)
        .orElseGet(
            () ->
                new Unschedulable(
                    "InsufficientCpu",
                    "no " + className + " node with the memory has " + needed.vcpus() + " vCPUs free (spec.cpu.cores; "
                        + capacity.vcpusPerCpu() + " per host CPU, the class's cpuOvercommitRatio): "
                        + describe(withMemory, n -> Math.max(0, capacity.freeVcpus(n, committed)) + " of " + capacity.vcpus(n))));
  }

  private static String describe(List<HypervisorNode> nodes, java.util.function.Function<HypervisorNode, String> room) {
    return nodes.stream()
        .sorted(Comparator.comparing(HypervisorNode::name))
        .map(n -> n.name() + " has " + room.apply(n))
        .collect(Collectors.joining(", "));
  }

  private static String labels(Map<String, String> selector) {
    return selector == null || selector.isEmpty()
        ? "none"
        : selector.entrySet().stream().sorted(Map.Entry.comparingByKey()).map(e -> e.getKey() + "=" + e.getValue())
            .collect(Collectors.joining(","));
  }
}
