package io.polyvisor.planner;

import io.polyvisor.api.v1alpha1.EvictionStrategy;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.MigrationMethod;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.MigrationPolicy;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.cluster.ClusterState;
import io.polyvisor.migration.MigrationLabels;
import io.polyvisor.migration.VmMigrations;
import io.polyvisor.planner.EvacuationPlan.Blocked;
import io.polyvisor.planner.EvacuationPlan.Leaving;
import io.polyvisor.planner.EvacuationPlan.Moving;
import io.polyvisor.planner.EvacuationPlan.Outcome;
import io.polyvisor.planner.EvacuationPlan.Queued;
import io.polyvisor.planner.EvacuationPlan.Start;
import io.polyvisor.planner.EvacuationPlan.Step;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * Decides, for each VM of ours on a cordoned node, what its evacuation does now: start a migration
 * to a named target (within the class's parallel caps), wait for one under way, wait in the queue
 * or for a retry, or report why it cannot leave. The evacuation reconciler carries the decisions
 * out; the drain plan shows them for a node that is not cordoned yet. VMs are taken by namespace
 * and name, and each is placed as if those before it had already moved, so that the targets of
 * queued VMs are the ones they get when nothing else changes.
 */
public final class EvacuationPlanner {

  /** How long after a successful move a VM whose status still names the node is taken as leaving. */
  static final Duration JUST_LEFT = Duration.ofSeconds(60);

  private EvacuationPlanner() {}

  public static EvacuationPlan plan(EvacuationSnapshot snapshot) {
    return new Pass(snapshot).run();
  }

  /** The eviction strategy of a VM: its own, else its class's default, else LiveMigrate. */
  public static EvictionStrategy strategyOf(VirtualMachine vm, HypervisorClass hvc) {
    return vm.getSpec().evictionStrategy != null ? vm.getSpec().evictionStrategy
        : hvc.getSpec().defaultEvictionStrategy == null ? EvictionStrategy.LiveMigrate : hvc.getSpec().defaultEvictionStrategy;
  }

  /** The class's caps: live migrations leaving one node, and in the whole class, at once. */
  public record Caps(int outboundPerNode, int perCluster) {
    public static Caps of(HypervisorClass hvc) {
      MigrationPolicy policy = hvc.getSpec().migration == null ? new MigrationPolicy() : hvc.getSpec().migration;
      return new Caps(policy.parallelOutboundPerNode == null ? 2 : policy.parallelOutboundPerNode,
          policy.parallelPerCluster == null ? 5 : policy.parallelPerCluster);
    }
  }

  private static final class Pass {
    private final EvacuationSnapshot s;
    private final String className;
    private final Commitments committed;
    private final Caps caps;
    private long outbound;
    private long clusterWide;
    private Instant nextRetry;

    Pass(EvacuationSnapshot snapshot) {
      this.s = snapshot;
      this.className = snapshot.hypervisorClass().getMetadata().getName();
      this.committed = Commitments.of(snapshot.vms(), snapshot.migrations(), null);
      this.caps = Caps.of(snapshot.hypervisorClass());
      Set<String> ofClass = new HashSet<>();
      snapshot.vms().stream().filter(vm -> className.equals(vm.getSpec().hypervisorClassName)).forEach(vm -> ofClass.add(key(vm)));
      // Every move leaving the node counts against its cap, whoever asked for it.
      Map<String, String> nodeOf = new HashMap<>();
      snapshot.vms().forEach(vm -> nodeOf.put(key(vm), vm.getStatus() == null ? null : vm.getStatus().nodeName));
      this.outbound = snapshot.migrations().stream().filter(ClusterState::isActive)
          .filter(m -> evacuatesThisNode(m) || snapshot.node().equals(m.getStatus() != null && m.getStatus().sourceNode != null
              ? m.getStatus().sourceNode : nodeOf.get(m.getMetadata().getNamespace() + "/" + m.getSpec().vmName)))
          .count();
      this.clusterWide = snapshot.migrations().stream().filter(ClusterState::isActive)
          .filter(m -> ofClass.contains(m.getMetadata().getNamespace() + "/" + m.getSpec().vmName)).count();
    }

    EvacuationPlan run() {
      List<VirtualMachine> here = s.vms().stream()
          .filter(vm -> vm.getStatus() != null && s.node().equals(vm.getStatus().nodeName))
          .filter(vm -> className.equals(vm.getSpec().hypervisorClassName))
          .filter(vm -> vm.getStatus().phase == VirtualMachinePhase.Running || vm.getStatus().phase == VirtualMachinePhase.Migrating
              || vm.getStatus().phase == VirtualMachinePhase.Paused)
          .sorted(Comparator.comparing((VirtualMachine vm) -> vm.getMetadata().getNamespace()).thenComparing(vm -> vm.getMetadata().getName()))
          .toList();
      Set<String> moved = new TreeSet<>();
      Set<String> existing = new HashSet<>();
      s.vms().forEach(vm -> existing.add(key(vm)));
      for (VirtualMachineMigration m : s.migrations()) {
        String vm = m.getMetadata().getNamespace() + "/" + m.getSpec().vmName;
        if (evacuatesThisNode(m) && sinceCordon(m) && succeeded(m) && existing.contains(vm)) {
          moved.add(vm);
        }
      }
      List<Step> steps = new ArrayList<>();
      // A VM on its way here (a move decided before the cordon) is not gone from the node's
      // future: the node is not empty until that move has ended, wherever it ends.
      for (VirtualMachine vm : s.vms()) {
        s.migrations().stream().filter(m -> ClusterState.isFor(m, vm)).filter(ClusterState::isActive)
            .filter(m -> s.node().equals(Commitments.targetOf(m)) && !s.node().equals(vm.getStatus() == null ? null : vm.getStatus().nodeName))
            .findFirst()
            .ifPresent(m -> steps.add(new Step(vm, new EvacuationPlan.Arriving(m.getMetadata().getName()))));
      }
      for (VirtualMachine vm : here) {
        Outcome outcome = decide(vm);
        if (outcome instanceof Leaving) {
          moved.add(key(vm));
        } else {
          moved.remove(key(vm)); // moved once, and back on the node since
        }
        steps.add(new Step(vm, outcome));
      }
      return new EvacuationPlan(s.node(), List.copyOf(steps), List.copyOf(moved), Optional.ofNullable(nextRetry));
    }

    private Outcome decide(VirtualMachine vm) {
      EvictionStrategy strategy = strategyOf(vm, s.hypervisorClass());
      if (strategy == EvictionStrategy.None) {
        return new Blocked("evictionStrategy None");
      }
      List<VirtualMachineMigration> held = s.migrations().stream().filter(m -> ClusterState.isFor(m, vm)).filter(VmMigrations::held).toList();
      if (!held.isEmpty()) {
        return new Blocked("held for a person after migration " + held.get(0).getMetadata().getName() + " (annotation "
            + MigrationLabels.HOLD + "): check its hosts, then remove the annotation");
      }
      if (vm.getStatus().phase == VirtualMachinePhase.Paused) {
        // Its guest is still on the node, but only a running guest can move; a person resumes or stops it.
        return new Blocked("the guest is paused or saved, not running; resume it or stop it");
      }
      List<VirtualMachineMigration> its = s.migrations().stream().filter(m -> ClusterState.isFor(m, vm)).toList();
      Optional<VirtualMachineMigration> active = its.stream().filter(ClusterState::isActive).findFirst();
      if (active.isPresent()) {
        return new Moving(active.get().getMetadata().getName(), Commitments.targetOf(active.get()));
      }
      Optional<VirtualMachineMigration> justLeft = its.stream()
          .filter(m -> s.node().equals(m.getStatus() == null ? null : m.getStatus().sourceNode))
          .filter(m -> succeeded(m) && m.getStatus().completionTime != null)
          .filter(m -> Duration.between(Instant.parse(m.getStatus().completionTime), s.now()).compareTo(JUST_LEFT) < 0)
          .findFirst();
      if (justLeft.isPresent()) {
        return new Leaving(justLeft.get().getStatus().targetNode);
      }
      MigrationMethod method = strategy == EvictionStrategy.Shutdown
          || (strategy == EvictionStrategy.LiveMigrateOrShutdown && liveMigrationFailed(its))
          ? MigrationMethod.Restart : MigrationMethod.Live;
      if (EvacuationRetry.decide(its, s.node(), s.since(), s.now()) instanceof EvacuationRetry.Wait wait) {
        nextRetry = nextRetry == null || wait.retryAt().isBefore(nextRetry) ? wait.retryAt() : nextRetry;
        Optional<String> blocking = wait.blocking(s.now());
        MigrationMethod retried = method;
        return blocking.<Outcome>map(Blocked::new)
            .orElseGet(() -> new Queued("retried after " + wait.failures() + " failed moves", Optional.empty(), retried));
      }
      Set<String> excluded = new HashSet<>(vm.getStatus().abandonedNodes == null ? List.of() : vm.getStatus().abandonedNodes);
      excluded.add(s.node());
      // Not back onto a node that failed this VM since the cordon, while another can take it.
      Set<String> avoided = new HashSet<>(excluded);
      avoided.addAll(failedTargets(its));
      Placement.Decision decision = place(vm, method, avoided, excluded);
      // A guest whose CPU no other node offers live may still be restarted elsewhere, with the CPU
      // its class gives it there, when its strategy allows it.
      if (decision instanceof Placement.Unschedulable u && Placement.CPU_MODEL_NOT_OFFERED.equals(u.reason())
          && method == MigrationMethod.Live && strategy == EvictionStrategy.LiveMigrateOrShutdown) {
        method = MigrationMethod.Restart;
        decision = place(vm, method, avoided, excluded);
      }
      if (decision instanceof Placement.Unschedulable u) {
        return new Blocked(u.message());
      }
      String target = ((Placement.Placed) decision).node().name();
      committed.add(target, Demand.of(vm));
      if (outbound >= caps.outboundPerNode()) {
        return new Queued("parallelOutboundPerNode " + caps.outboundPerNode() + " reached", Optional.of(target), method);
      }
      if (clusterWide >= caps.perCluster()) {
        return new Queued("parallelPerCluster " + caps.perCluster() + " reached", Optional.of(target), method);
      }
      outbound++;
      clusterWide++;
      return new Start(target, method);
    }

    /** Where the VM would go, by that method: not to the avoided nodes while another can take it. */
    private Placement.Decision place(VirtualMachine vm, MigrationMethod method, Set<String> avoided, Set<String> excluded) {
      Optional<CpuModels.Requirement> cpu = CpuModels.required(vm, s.hypervisorClass(), method == MigrationMethod.Live);
      Placement.Decision decision = Placement.place(vm, s.hypervisorClass(), s.nodes(), committed, avoided, cpu);
      if (decision instanceof Placement.Unschedulable && avoided.size() > excluded.size()) {
        decision = Placement.place(vm, s.hypervisorClass(), s.nodes(), committed, excluded, cpu);
      }
      return decision;
    }

    /** Targets of this VM's evacuation migrations from the node that failed since the cordon. */
    private Set<String> failedTargets(List<VirtualMachineMigration> its) {
      Set<String> failed = new HashSet<>();
      its.stream().filter(this::evacuatesThisNode).filter(this::sinceCordon)
          .filter(m -> m.getStatus() != null && (m.getStatus().phase == MigrationPhase.Failed || m.getStatus().phase == MigrationPhase.Aborted))
          .map(Commitments::targetOf).filter(t -> t != null).forEach(failed::add);
      return failed;
    }

    /** Whether a live evacuation migration of the VM from this node failed since the node was cordoned. */
    private boolean liveMigrationFailed(List<VirtualMachineMigration> its) {
      return its.stream().filter(this::evacuatesThisNode).filter(this::sinceCordon)
          .filter(m -> m.getSpec().method != MigrationMethod.Restart)
          .anyMatch(m -> m.getStatus() != null && m.getStatus().phase == MigrationPhase.Failed);
    }

    private boolean evacuatesThisNode(VirtualMachineMigration m) {
      return m.getMetadata().getLabels() != null && s.node().equals(m.getMetadata().getLabels().get(MigrationLabels.EVACUATED_NODE));
    }

    private boolean sinceCordon(VirtualMachineMigration m) {
      return m.getMetadata().getCreationTimestamp() == null
          || !Instant.parse(m.getMetadata().getCreationTimestamp()).isBefore(s.since().minusSeconds(1));
    }

    private static boolean succeeded(VirtualMachineMigration m) {
      return m.getStatus() != null && m.getStatus().phase == MigrationPhase.Succeeded;
    }
  }

  private static String key(VirtualMachine vm) {
    return vm.getMetadata().getNamespace() + "/" + vm.getMetadata().getName();
  }
}
