package io.polyvisor.planner;

import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.List;

/**
 * What cordoning a node would do now, for a person or for maintenance tooling (it is written as
 * JSON or YAML as it is): each VM's move or why it stays, the parallelism, the expected time and
 * whether the node would end empty.
 *
 * @param parallel how many moves run at once: the class's parallelOutboundPerNode, or fewer when
 *     its parallelPerCluster is taken up by migrations from other nodes
 * @param expectedSeconds the moves laid out on {@code parallel} lanes in plan order, each lasting
 *     its bytes over {@code throughput}
 * @param endsEmpty no VM would stay
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record DrainPlan(
    String node,
    String hypervisorClass,
    boolean cordoned,
    List<VmMove> vms,
    int parallel,
    String parallelism,
    double expectedSeconds,
    Throughput throughput,
    boolean endsEmpty) {

  /**
   * One VM.
   *
   * @param action Move (a migration would be created), Moving (one is under way), Leaving (its move
   *     succeeded a moment ago), Arriving (moving to this node), Waits (retried after failed moves) or Stays (it cannot leave: {@code why})
   * @param bytes what its move transfers: its memory, and the disks it copies
   * @param startsAtSeconds when its move would start, from the cordon
   */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public record VmMove(
      String vm,
      String action,
      String target,
      String method,
      Long bytes,
      Double startsAtSeconds,
      Double seconds,
      String why) {}
}
