package io.polyvisor.planner;

import io.polyvisor.api.v1alpha1.DiskSpec;
import io.polyvisor.api.v1alpha1.MigrationMethod;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.planner.EvacuationPlan.Blocked;
import io.polyvisor.planner.EvacuationPlan.Leaving;
import io.polyvisor.planner.EvacuationPlan.Moving;
import io.polyvisor.planner.EvacuationPlan.Queued;
import io.polyvisor.planner.EvacuationPlan.Start;
import io.polyvisor.planner.EvacuationPlanner.Caps;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.function.Predicate;

/**
 * The drain plan: the evacuation planner run on the cluster as it is, as if the node were cordoned
 * now (so its targets are the ones the evacuation takes when nothing changes in between), with
 * the time it would take. Changes nothing.
 */
public final class DrainPlanner {

  private DrainPlanner() {}

  /**
   * @param snapshot the cluster now; {@code since} is now unless the node is already cordoned
   * @param sharedStorageClass whether a StorageClass's volumes are seen by every host (their disks are not copied)
   */
  public static DrainPlan plan(EvacuationSnapshot snapshot, boolean cordoned, Throughput throughput,
      Predicate<String> sharedStorageClass) {
    EvacuationPlan plan = EvacuationPlanner.plan(snapshot);
    Caps caps = Caps.of(snapshot.hypervisorClass());
    long elsewhere = snapshot.migrations().stream().filter(io.polyvisor.cluster.ClusterState::isActive)
        .filter(m -> ofClass(snapshot, m.getMetadata().getNamespace(), m.getSpec().vmName))
        .filter(m -> !snapshot.node().equals(sourceOf(snapshot, m))).count();
    int parallel = (int) Math.max(1, Math.min(caps.outboundPerNode(), caps.perCluster() - elsewhere));
    String parallelism = parallel + " at once: parallelOutboundPerNode " + caps.outboundPerNode() + ", parallelPerCluster "
        + caps.perCluster() + (elsewhere > 0 ? " of which " + elsewhere + " taken by migrations from other nodes" : "");

    // Lanes: when each of the parallel moves is next free.
    PriorityQueue<Double> lanes = new PriorityQueue<>();
    for (int i = 0; i < parallel; i++) {
      lanes.add(0.0);
    }
    List<DrainPlan.VmMove> moves = new ArrayList<>();
    double end = 0;
    // Moves under way hold their lanes first, for what they still have to transfer.
    for (EvacuationPlan.Step step : plan.steps()) {
      if (step.outcome() instanceof Moving moving) {
        long left = remaining(step.vm(), snapshot, moving.migration(), throughput, sharedStorageClass);
        double seconds = throughput.seconds(left);
        double start = lanes.poll();
        lanes.add(start + seconds);
        end = Math.max(end, start + seconds);
        moves.add(new DrainPlan.VmMove(step.vmName(), "Moving", moving.target(), null, left, start, seconds, "migration " + moving.migration()));
      }
    }
    boolean empty = true;
    for (EvacuationPlan.Step step : plan.steps()) {
      EvacuationPlan.Outcome outcome = step.outcome();
      String strategy = "evictionStrategy " + EvacuationPlanner.strategyOf(step.vm(), snapshot.hypervisorClass());
      if (outcome instanceof Start s) {
        DrainPlan.VmMove move = scheduled(step, s.target(), s.method(), strategy, lanes, throughput, sharedStorageClass);
        end = Math.max(end, move.startsAtSeconds() + move.seconds());
        moves.add(move);
      } else if (outcome instanceof Queued q && q.target().isPresent()) {
        DrainPlan.VmMove move = scheduled(step, q.target().get(), q.method(), strategy, lanes, throughput, sharedStorageClass);
        end = Math.max(end, move.startsAtSeconds() + move.seconds());
        moves.add(move);
      } else if (outcome instanceof Queued q) {
        moves.add(new DrainPlan.VmMove(step.vmName(), "Waits", null, q.method().name(), null, null, null, q.why()));
      } else if (outcome instanceof EvacuationPlan.Arriving a) {
        moves.add(new DrainPlan.VmMove(step.vmName(), "Arriving", snapshot.node(), null, null, null, null,
            "moving here (migration " + a.migration() + "); it has to leave again once it has arrived"));
      } else if (outcome instanceof Leaving l) {
        moves.add(new DrainPlan.VmMove(step.vmName(), "Leaving", l.target(), null, null, null, null, "its move succeeded"));
      } else if (outcome instanceof Blocked b) {
        empty = false;
        moves.add(new DrainPlan.VmMove(step.vmName(), "Stays", null, null, null, null, null, b.why()));
      }
    }
    return new DrainPlan(snapshot.node(), snapshot.hypervisorClass().getMetadata().getName(), cordoned, List.copyOf(moves), parallel,
        parallelism, end, throughput, empty);
  }

  private static DrainPlan.VmMove scheduled(EvacuationPlan.Step step, String target, MigrationMethod method, String strategy,
      PriorityQueue<Double> lanes, Throughput throughput, Predicate<String> sharedStorageClass) {
    long bytes = method == MigrationMethod.Restart ? copiedDisks(step.vm(), sharedStorageClass) : bytes(step.vm(), sharedStorageClass);
    double seconds = throughput.seconds(bytes);
    double start = lanes.poll();
    lanes.add(start + seconds);
    return new DrainPlan.VmMove(step.vmName(), "Move", target, method.name(), bytes, start, seconds,
        // A restart also waits for the guest to shut down and boot, which no transfer rate says.
        method == MigrationMethod.Restart ? "shut down and started on " + target + " (" + strategy + "); the estimate is its disk copy only"
            : null);
  }

  /** What moving the VM transfers: its memory as assigned (else its size), and the disks not on shared storage. */
  static long bytes(VirtualMachine vm, Predicate<String> sharedStorageClass) {
    long memory = vm.getStatus() != null && vm.getStatus().memory != null && vm.getStatus().memory.assigned != null
        ? io.fabric8.kubernetes.api.model.Quantity.getAmountInBytes(vm.getStatus().memory.assigned).longValue()
        : MemoryRequest.startup(vm.getSpec().memory);
    return memory + copiedDisks(vm, sharedStorageClass);
  }

  private static long copiedDisks(VirtualMachine vm, Predicate<String> sharedStorageClass) {
    return vm.getSpec().disks == null ? 0 : vm.getSpec().disks.stream()
        .filter(d -> d.storageClassName == null || !sharedStorageClass.test(d.storageClassName))
        .mapToLong(DrainPlanner::size).sum();
  }

  private static long size(DiskSpec disk) {
    return disk.size == null ? 0 : MemoryRequest.bytes(disk.size);
  }

  private static long remaining(VirtualMachine vm, EvacuationSnapshot snapshot, String migration, Throughput throughput,
      Predicate<String> sharedStorageClass) {
    return snapshot.migrations().stream().filter(m -> m.getMetadata().getName().equals(migration)
            && m.getMetadata().getNamespace().equals(vm.getMetadata().getNamespace()))
        .findFirst()
        .filter(m -> m.getStatus() != null && m.getStatus().dataTotalBytes != null)
        .map(m -> Math.max(0, m.getStatus().dataTotalBytes - (m.getStatus().dataProcessedBytes == null ? 0 : m.getStatus().dataProcessedBytes)))
        .orElseGet(() -> bytes(vm, sharedStorageClass));
  }

  /** Where a migration leaves from: its recorded source, else (not scheduled yet) where its VM runs. */
  private static String sourceOf(EvacuationSnapshot snapshot, io.polyvisor.api.v1alpha1.VirtualMachineMigration m) {
    if (m.getStatus() != null && m.getStatus().sourceNode != null) {
      return m.getStatus().sourceNode;
    }
    return snapshot.vms().stream().filter(vm -> io.polyvisor.cluster.ClusterState.isFor(m, vm)).findFirst()
        .map(vm -> vm.getStatus() == null ? null : vm.getStatus().nodeName).orElse(null);
  }

  private static boolean ofClass(EvacuationSnapshot snapshot, String namespace, String vmName) {
    String className = snapshot.hypervisorClass().getMetadata().getName();
    return snapshot.vms().stream().anyMatch(vm -> vm.getMetadata().getNamespace().equals(namespace)
        && vm.getMetadata().getName().equals(vmName) && className.equals(vm.getSpec().hypervisorClassName));
  }
}
