package io.polyvisor.drain;

import io.fabric8.kubernetes.api.model.Pod;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * What to do with a VM's placeholder pods, from the pods that exist and where its guest runs.
 *
 * @param create whether a placeholder must be created on the guest's node
 * @param release the pods whose finalizer goes and that are deleted
 */
record GuardPlan(boolean create, List<Pod> release) {

  /**
   * The guest runs on {@code node}: keep one placeholder there and release every other. A
   * terminating one is kept first: a drain that evicted it is waiting for it to go, and must keep
   * waiting while the guest is there (a new pod would not be one it waits for).
   */
  static GuardPlan guestOn(String node, Collection<Pod> pods) {
    Optional<Pod> keep = pods.stream()
        .filter(p -> node.equals(PlaceholderPod.nodeOf(p)))
        .min(Comparator.comparing((Pod p) -> !PlaceholderPod.isTerminating(p))
            .thenComparing(p -> String.valueOf(p.getMetadata().getCreationTimestamp()))
            .thenComparing(p -> p.getMetadata().getName()));
    return new GuardPlan(keep.isEmpty(), pods.stream().filter(p -> keep.map(k -> k != p).orElse(true)).toList());
  }

  /** The guest runs nowhere: every placeholder goes. */
  static GuardPlan guestNowhere(Collection<Pod> pods) {
    return new GuardPlan(false, List.copyOf(pods));
  }
}
