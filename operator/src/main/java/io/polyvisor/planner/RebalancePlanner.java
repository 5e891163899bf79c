package io.polyvisor.planner;

import io.polyvisor.api.v1alpha1.EvictionStrategy;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.RebalancingPolicy;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.cluster.ClusterState;
import io.polyvisor.cluster.HypervisorNode;
import io.polyvisor.migration.MigrationLabels;
import io.polyvisor.migration.VmMigrations;
import io.polyvisor.planner.EvacuationPlanner.Caps;
import io.polyvisor.planner.RebalancePlan.Move;
import io.polyvisor.planner.RebalancePlan.State;
import io.polyvisor.planner.RebalancePlan.Verdict;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Relieves the overloaded nodes of a class. A node whose memory pressure (or vCPU pressure, when
 * the class sets a CPU threshold) is above the threshold has VMs moved off it until it is at or
 * under the watermark (over several passes: a node being relieved goes on below its threshold): each time the VM that alone brings it there and moves the least memory,
 * else the one that relieves the most, so that few moves relieve much. A VM moves only when its
 * evictionStrategy allows a live move, it has not moved within the cool-down and a node of the
 * class takes it and stays at or under the watermark itself, which is what keeps moves from going
 * back and forth: a node that a move could push over its threshold is never a target. Cordoned
 * nodes (being evacuated) are neither relieved nor targets, and the class's parallel caps hold.
 */
public final class RebalancePlanner {

  private RebalancePlanner() {}

  /** The class's policy with defaults filled in. */
  record Policy(double threshold, double watermark, Double cpuThreshold, Double cpuWatermark, Duration coolDown) {
    static Policy of(RebalancingPolicy p) {
      double threshold = p.memoryThresholdPercent == null ? 85 : p.memoryThresholdPercent;
      double watermark = p.memoryWatermarkPercent == null ? 70 : p.memoryWatermarkPercent;
      Double cpu = p.cpuThresholdPercent == null ? null : p.cpuThresholdPercent.doubleValue();
      Double cpuWatermark = cpu == null ? null : p.cpuWatermarkPercent == null ? cpu * 0.8 : p.cpuWatermarkPercent.doubleValue();
      return new Policy(threshold, watermark, cpu, cpuWatermark, Duration.ofSeconds(p.coolDownSeconds == null ? 600 : p.coolDownSeconds));
    }

    boolean over(NodeLoad load) {
      return load.memoryPressure() > threshold || (cpuThreshold != null && load.cpuPressure() > cpuThreshold);
    }

    boolean underWatermark(NodeLoad load) {
      return load.memoryPressure() <= watermark && (cpuWatermark == null || load.cpuPressure() <= cpuWatermark);
    }
  }

  public static RebalancePlan plan(RebalanceSnapshot snapshot) {
    return new Pass(snapshot).run();
  }

  private static final class Pass {
    private final RebalanceSnapshot s;
    private final HypervisorClass hvc;
    private final Policy policy;
    private final Caps caps;
    private final Map<String, NodeLoad> loads = new LinkedHashMap<>();
    private final Map<String, Integer> outbound = new HashMap<>();
    private final Set<String> moving = new HashSet<>();
    /** Nodes with a Rebalance migration of theirs under way. */
    private final Set<String> relievedNow = new HashSet<>();
    private final Commitments committed;
    private long clusterWide;

    Pass(RebalanceSnapshot snapshot) {
      this.s = snapshot;
      this.hvc = snapshot.hypervisorClass();
      this.policy = Policy.of(hvc.getSpec().rebalancing);
      this.caps = Caps.of(hvc);
      this.committed = Commitments.of(snapshot.vms(), snapshot.migrations(), null);
      Capacity capacity = Capacity.of(hvc);
      snapshot.nodes().forEach(n -> loads.put(n.name(), NodeLoad.empty(n, capacity)));
      Map<String, VirtualMachineMigration> active = new HashMap<>();
      for (VirtualMachineMigration m : snapshot.migrations()) {
        if (ClusterState.isActive(m)) {
          active.put(m.getMetadata().getNamespace() + "/" + m.getSpec().vmName, m);
        }
      }
      String className = hvc.getMetadata().getName();
      for (VirtualMachine vm : snapshot.vms()) {
        String node = vm.getStatus() == null ? null : vm.getStatus().nodeName;
        // Moved a moment ago, its status not yet updated: it counts where it went, and stays put.
        Optional<String> landed = Commitments.landedElsewhere(vm, snapshot.migrations());
        if (landed.isPresent() && loads.containsKey(landed.get())) {
          moving.add(key(vm));
          loads.compute(landed.get(), (n, load) -> load.plus(vm, cpuUse(vm)));
          continue;
        }
        VirtualMachineMigration m = active.get(key(vm));
        if (m != null && className.equals(vm.getSpec().hypervisorClassName)) {
          clusterWide++;
          moving.add(key(vm));
          if (node != null) {
            outbound.merge(node, 1, Integer::sum);
            if (m.getMetadata().getLabels() != null && m.getMetadata().getLabels().containsKey(MigrationLabels.REBALANCED_NODE)) {
              relievedNow.add(node);
            }
          }
          // A VM that is moving counts where it goes: the node it leaves is relieved of it.
          String target = Commitments.targetOf(m);
          if (target != null && loads.containsKey(target)) {
            loads.compute(target, (n, load) -> load.plus(vm, cpuUse(vm)));
            continue;
          }
        }
        if (node != null && loads.containsKey(node)) {
          loads.compute(node, (n, load) -> load.plus(vm, cpuUse(vm)));
        }
      }
    }

    RebalancePlan run() {
      List<Verdict> verdicts = new ArrayList<>();
      List<Move> moves = new ArrayList<>();
      List<HypervisorNode> byPressure = s.nodes().stream()
          .sorted(Comparator.comparingDouble((HypervisorNode n) -> loads.get(n.name()).memoryPressure()).reversed()
              .thenComparing(HypervisorNode::name))
          .toList();
      for (HypervisorNode node : byPressure) {
        if (node.cordoned() || !node.ready()) {
          continue; // an evacuation, or nothing to act on: not rebalancing's to touch
        }
        NodeLoad before = loads.get(node.name());
        boolean inFlight = relievedNow.contains(node.name());
        boolean relieving = s.relieving().contains(node.name()) && !policy.underWatermark(before);
        if (!policy.over(before) && !relieving) {
          verdicts.add(new Verdict(node.name(), inFlight ? State.Relieving : State.Balanced, before.memoryPressure(),
              before.memoryPressure(), numbers(before) + (inFlight ? "; moves under way" : "")));
          continue;
        }
        List<String> cannot = new ArrayList<>();
        List<Move> planned = new ArrayList<>();
        boolean capped = false;
        while (!policy.underWatermark(loads.get(node.name()))) {
          if (outbound.getOrDefault(node.name(), 0) >= caps.outboundPerNode() || clusterWide >= caps.perCluster()) {
            capped = true;
            break;
          }
          cannot.clear();
          Optional<Move> next = nextMove(node, cannot);
          if (next.isEmpty()) {
            break;
          }
          planned.add(next.get());
        }
        moves.addAll(planned);
        NodeLoad after = loads.get(node.name());
        String target = "; to bring it to " + pct(policy.watermark()) + " or less";
        String why = cannot.isEmpty() ? "no running VM of the class" : String.join("; ", cannot);
        if (planned.isEmpty() && !inFlight && !capped && !policy.over(before)) {
          // Under its threshold already: it stops short of the watermark rather than stay flagged.
          verdicts.add(new Verdict(node.name(), State.Balanced, before.memoryPressure(), after.memoryPressure(),
              numbers(before) + "; under its threshold, above its watermark " + pct(policy.watermark()) + ": nothing more can move: " + why));
        } else if (planned.isEmpty() && !inFlight && !capped) {
          verdicts.add(new Verdict(node.name(), State.CannotRelieve, before.memoryPressure(), after.memoryPressure(),
              numbers(before) + target + " nothing can move: " + why));
        } else {
          verdicts.add(new Verdict(node.name(), State.Relieving, before.memoryPressure(), after.memoryPressure(),
              numbers(before) + target + ", " + planned.size() + " moves now" + (inFlight ? " and moves under way" : "")
                  + (capped ? ", more once the parallel caps allow" : "") + ": " + pct(after.memoryPressure()) + " after them"));
        }
      }
      return new RebalancePlan(List.copyOf(verdicts), List.copyOf(moves));
    }

    /** Picks the next VM to move off {@code node} and its target, updating the loads; says in {@code cannot} why none. */
    private Optional<Move> nextMove(HypervisorNode node, List<String> cannot) {
      NodeLoad source = loads.get(node.name());
      boolean cpuBound = source.memoryPressure() <= policy.watermark();
      record Option(VirtualMachine vm, HypervisorNode target, long relief, boolean enough) {}
      List<Option> options = new ArrayList<>();
      for (VirtualMachine vm : residents(node.name())) {
        Optional<String> why = immovable(vm);
        if (why.isPresent()) {
          cannot.add(key(vm) + ": " + why.get());
          continue;
        }
        List<HypervisorNode> targets = s.nodes().stream().filter(n -> !n.name().equals(node.name()))
            .filter(n -> n.ready() && !n.cordoned())
            .filter(n -> policy.underWatermark(loads.get(n.name()).plus(vm, cpuUse(vm)))).toList();
        if (targets.isEmpty()) {
          cannot.add(key(vm) + ": no other Ready, uncordoned node would stay at or under the watermark " + pct(policy.watermark())
              + " with it");
          continue;
        }
        Set<String> excluded = new HashSet<>(vm.getStatus().abandonedNodes == null ? List.of() : vm.getStatus().abandonedNodes);
        excluded.add(node.name());
        Placement.Decision decision = Placement.place(vm, hvc, targets, committed, excluded, CpuModels.required(vm, hvc, true));
        if (decision instanceof Placement.Unschedulable u) {
          cannot.add(key(vm) + ": no node would stay at or under the watermark with it (" + u.message() + ")");
          continue;
        }
        // Over on CPU alone, a VM relieves by how much CPU pressure it takes away (in hundredths of a
        // percent: measured use, or committed vCPUs where that is the larger); else by its memory.
        long relief = cpuBound ? Math.round(100 * (source.cpuPressure() - source.minus(vm, cpuUse(vm)).cpuPressure()))
            : Math.max(Demand.of(vm).memoryBytes(), NodeLoad.used(vm));
        options.add(new Option(vm, ((Placement.Placed) decision).node(), relief, policy.underWatermark(source.minus(vm, cpuUse(vm)))));
      }
      Comparator<Option> byName = Comparator.comparing(o -> key(o.vm()));
      Optional<Option> alone = options.stream().filter(Option::enough)
          .min(Comparator.comparingLong(Option::relief).thenComparing(byName));
      Optional<Option> chosen = alone.isPresent() ? alone
          : options.stream().max(Comparator.comparingLong(Option::relief).thenComparing(byName.reversed()));
      if (chosen.isEmpty()) {
        return Optional.empty();
      }
      Option o = chosen.get();
      NodeLoad targetBefore = loads.get(o.target().name());
      NodeLoad sourceAfter = source.minus(o.vm(), cpuUse(o.vm()));
      NodeLoad targetAfter = targetBefore.plus(o.vm(), cpuUse(o.vm()));
      loads.put(node.name(), sourceAfter);
      loads.put(o.target().name(), targetAfter);
      committed.add(o.target().name(), Demand.of(o.vm()));
      moving.add(key(o.vm()));
      outbound.merge(node.name(), 1, Integer::sum);
      clusterWide++;
      String what = cpuBound ? cpuUse(o.vm()) + "m CPU used, " + Demand.of(o.vm()).vcpus() + " vCPUs" : Bytes.format(o.relief());
      String why = "moving " + key(o.vm()) + " (" + what + ") from " + node.name() + " to " + o.target().name()
          + ": " + node.name() + " memory pressure " + pct(source.memoryPressure()) + " -> " + pct(sourceAfter.memoryPressure())
          + " (threshold " + pct(policy.threshold()) + ", watermark " + pct(policy.watermark()) + ")"
          + (policy.cpuThreshold() == null ? "" : ", CPU pressure " + pct(source.cpuPressure()) + " -> " + pct(sourceAfter.cpuPressure())
              + " (threshold " + pct(policy.cpuThreshold()) + ", watermark " + pct(policy.cpuWatermark()) + ")")
          + "; " + o.target().name() + " " + pct(targetBefore.memoryPressure()) + " -> " + pct(targetAfter.memoryPressure())
          + (policy.cpuThreshold() == null ? "" : ", CPU " + pct(targetBefore.cpuPressure()) + " -> " + pct(targetAfter.cpuPressure()))
          + "; this VM because " + (o.enough() ? "it alone brings " + node.name() + " to the watermark and moves the least of those that do"
              : "it relieves the most of the VMs that can move")
          + "; " + o.target().name() + " because it has the most memory free of the nodes that stay at or under the watermark with it";
      return Optional.of(new Move(o.vm(), node.name(), o.target().name(), why));
    }

    /** The running VMs of the class on the node that are not already moving, by name. */
    private List<VirtualMachine> residents(String node) {
      return s.vms().stream()
          .filter(vm -> vm.getStatus() != null && node.equals(vm.getStatus().nodeName))
          .filter(vm -> hvc.getMetadata().getName().equals(vm.getSpec().hypervisorClassName))
          .filter(vm -> vm.getStatus().phase == VirtualMachinePhase.Running)
          .filter(vm -> !moving.contains(key(vm)))
          .sorted(Comparator.comparing(RebalancePlanner::key))
          .toList();
    }

    /** What the VM's guest was measured to use; only a guest that runs uses any (a stopped one may keep its last rate). */
    private long cpuUse(VirtualMachine vm) {
      VirtualMachinePhase phase = vm.getStatus() == null ? null : vm.getStatus().phase;
      return phase == VirtualMachinePhase.Running || phase == VirtualMachinePhase.Migrating
          ? s.cpuUse().getOrDefault(vm.getMetadata().getUid(), 0L) : 0;
    }

    private Optional<String> immovable(VirtualMachine vm) {
      EvictionStrategy strategy = EvacuationPlanner.strategyOf(vm, hvc);
      if (strategy != EvictionStrategy.LiveMigrate && strategy != EvictionStrategy.LiveMigrateOrShutdown) {
        return Optional.of("evictionStrategy " + strategy + " (only VMs that may move live are rebalanced)");
      }
      List<VirtualMachineMigration> its = s.migrations().stream().filter(m -> ClusterState.isFor(m, vm)).toList();
      if (its.stream().anyMatch(VmMigrations::held)) {
        return Optional.of("held for a person (polyvisor.io/hold)");
      }
      // The cool-down follows every move, and every rebalance that failed or was cancelled, so
      // that a move that cannot succeed is not tried again at each pass.
      Optional<Instant> lastTry = its.stream()
          .filter(m -> m.getStatus() != null && m.getStatus().completionTime != null)
          .filter(m -> m.getStatus().phase == MigrationPhase.Succeeded || (m.getStatus().phase != null && m.getStatus().phase.isFinal()
              && m.getMetadata().getLabels() != null && m.getMetadata().getLabels().containsKey(MigrationLabels.REBALANCED_NODE)))
          .map(m -> Instant.parse(m.getStatus().completionTime)).max(Comparator.naturalOrder());
      if (lastTry.isPresent() && Duration.between(lastTry.get(), s.now()).compareTo(policy.coolDown()) < 0) {
        return Optional.of("moved or tried " + Duration.between(lastTry.get(), s.now()).toSeconds() + " s ago (coolDownSeconds "
            + policy.coolDown().toSeconds() + ")");
      }
      return Optional.empty();
    }

    private String numbers(NodeLoad load) {
      return "memory pressure " + pct(load.memoryPressure()) + " (" + Bytes.format(load.committedBytes()) + " committed of "
          + Bytes.format(load.capacity().memory(load.node())) + ", " + Bytes.format(load.usedBytes()) + " used of "
          + Bytes.format(load.node().allocatableMemoryBytes()) + "; threshold " + pct(policy.threshold()) + ")"
          + (policy.cpuThreshold() == null ? "" : ", CPU pressure " + pct(load.cpuPressure()) + " (" + load.vcpus() + " vCPUs committed of "
              + load.capacity().vcpus(load.node()) + ", " + load.usedMillicpu() + "m used of " + load.node().allocatableMillicpu()
              + "m; threshold " + pct(policy.cpuThreshold()) + ")");
    }
  }

  static String pct(double percent) {
    return Double.isInfinite(percent) ? "inf%" : String.format(Locale.ROOT, "%.0f%%", percent);
  }

  private static String key(VirtualMachine vm) {
    return vm.getMetadata().getNamespace() + "/" + vm.getMetadata().getName();
  }
}
