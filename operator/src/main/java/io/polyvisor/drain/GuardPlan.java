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
 * @param releaseLater whether placeholders on other nodes wait for the VM's status to name the new node
 */
record GuardPlan(boolean create, List<Pod> release, boolean releaseLater) {

  /**
   * The guest runs on {@code node}: keep one placeholder there and release every other. A
   * terminating one is kept first: a drain that evicted it is waiting for it to go, and must keep
   * waiting while the guest is there (a new pod would not be one it waits for). Those on other
   * nodes go only once the VM's status names {@code node} ({@code recorded}), so that a drain
   * that returns finds the VM's status already saying where it went.
   */
  static GuardPlan guestOn(String node, boolean recorded, Collection<Pod> pods) {
    Optional<Pod> keep = pods.stream()
        .filter(p -> node.equals(PlaceholderPod.nodeOf(p)))
        .min(Comparator.comparing((Pod p) -> !PlaceholderPod.isTerminating(p))
            .thenComparing(p -> String.valueOf(p.getMetadata().getCreationTimestamp()))
            .thenComparing(p -> p.getMetadata().getName()));
    List<Pod> others = pods.stream().filter(p -> keep.map(k -> k != p).orElse(true)).toList();
    List<Pod> release = recorded ? others : others.stream().filter(p -> node.equals(PlaceholderPod.nodeOf(p))).toList();
    return new GuardPlan(keep.isEmpty(), release, release.size() < others.size());
  }

  /** The guest runs nowhere: every placeholder goes. */
  static GuardPlan guestNowhere(Collection<Pod> pods) {
    return new GuardPlan(false, List.copyOf(pods), false);
  }
}
