package io.polyvisor.planner;

import io.polyvisor.api.v1alpha1.MigrationMethod;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * What an evacuation does with each VM of the node, and the summary the node condition says.
 *
 * @param steps one per VM on its way to the node, then one per VM still on it, in the order they are taken
 * @param moved the VMs (namespace/name) that left the node since it was cordoned
 * @param nextRetry the earliest time a VM waiting after a failure may be tried again
 */
public record EvacuationPlan(String node, List<Step> steps, List<String> moved, Optional<Instant> nextRetry) {

  /** What happens to one VM. */
  public record Step(VirtualMachine vm, Outcome outcome) {
    public String vmName() {
      return vm.getMetadata().getNamespace() + "/" + vm.getMetadata().getName();
    }
  }

  public sealed interface Outcome permits Start, Moving, Leaving, Arriving, Queued, Blocked {}

  /** A migration is to be created now, to {@code target}. */
  public record Start(String target, MigrationMethod method) implements Outcome {}

  /** Its migration is under way. */
  public record Moving(String migration, String target) implements Outcome {}

  /**
   * A VM of another node moving to this one (decided before the cordon): the node is not empty
   * before that move has ended.
   */
  public record Arriving(String migration) implements Outcome {}

  /** Its migration succeeded; its own reconciler has not yet recorded the new node. */
  public record Leaving(String target) implements Outcome {}

  /**
   * It waits: behind the parallel caps ({@code target} is where it would go now), or for the
   * retry after a failed move ({@code target} empty).
   */
  public record Queued(String why, Optional<String> target, MigrationMethod method) implements Outcome {}

  /** It cannot leave the node, for {@code why}; a person has to act. */
  public record Blocked(String why) implements Outcome {}

  public List<Step> starting() {
    return steps.stream().filter(s -> s.outcome() instanceof Start).toList();
  }

  public long count(Class<? extends Outcome> kind) {
    return steps.stream().filter(s -> kind.isInstance(s.outcome())).count();
  }

  /** Completed: nothing of ours is on the node or on its way; Blocked: every VM left is blocked; else InProgress. */
  public String reason() {
    if (steps.isEmpty()) {
      return "Completed";
    }
    return count(Blocked.class) == steps.size() ? "Blocked" : "InProgress";
  }

  /** The node condition's message, with the numbers and, for each blocked VM, why. */
  public String message() {
    if (steps.isEmpty()) {
      return "all " + moved.size() + " VMs moved; no VM of ours runs on " + node;
    }
    long leaving = count(Leaving.class);
    long arriving = count(Arriving.class);
    long total = moved.size() + steps.size() - leaving - arriving;
    List<String> blocked = steps.stream().filter(s -> s.outcome() instanceof Blocked)
        .map(s -> s.vmName() + ": " + ((Blocked) s.outcome()).why()).toList();
    return moved.size() + " of " + total + " VMs moved, " + (count(Moving.class) + count(Start.class)) + " running, "
        + count(Queued.class) + " queued, " + blocked.size() + " blocked"
        + (blocked.isEmpty() ? "" : ": " + String.join("; ", blocked))
        + (arriving == 0 ? "" : "; " + arriving + " arriving, moved here before the cordon");
  }
}
