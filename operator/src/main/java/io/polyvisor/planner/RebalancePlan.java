package io.polyvisor.planner;

import io.polyvisor.api.v1alpha1.VirtualMachine;
import java.util.List;

/**
 * What rebalancing does now: per node of the class, how loaded it is and what becomes of it; the
 * migrations to create, each with why.
 */
public record RebalancePlan(List<Verdict> nodes, List<Move> moves) {

  /** Balanced: at or under its thresholds; Relieving: moves planned or under way; CannotRelieve: over, and nothing can move. */
  public enum State { Balanced, Relieving, CannotRelieve }

  /**
   * @param pressure the node's memory pressure now, in percent
   * @param after what it will be once the planned and running moves end
   * @param message the numbers and, for CannotRelieve, why each VM cannot move
   */
  public record Verdict(String node, State state, double pressure, double after, String message) {}

  /** @param why why this VM and this target, with the numbers, as the Event says it */
  public record Move(VirtualMachine vm, String source, String target, String why) {}
}
