package io.polyvisor.migration;

import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.MigrationMark;
import java.util.List;

/**
 * How a live move stands, decided from what both hosts hold and nothing else: what the hypervisor
 * said of the transfer is a hint (libvirt can report success with the source left paused and
 * defined, or failure with the target already running), and the migration's own phase says only
 * how far the operator got. A pure function, so that every row of the table is a unit test
 * ({@code MoveResolutionTest}); the reconciler reads the hosts, asks, and carries out the actions
 * in order.
 *
 * <p>The rule it encodes: a copy is destroyed or resumed only when what was read proves that the
 * other host holds the guest (or that this copy never ran). A paused copy is never counted as
 * running. A host that cannot be read, or a job still under way, means waiting. Where the memory
 * is split by a broken post-copy, or where two copies that both ran exist, nothing is touched and a
 * person is asked.
 *
 * <table>
 *   <tr><th>source</th><th>target</th><th>outcome</th><th>actions</th></tr>
 *   <tr><td>unreadable / any</td><td>any / unreadable</td><td>Wait (host)</td><td>none (even a running source does not prove the target runs nothing)</td></tr>
 *   <tr><td>job</td><td>any</td><td>Wait (job)</td><td>none: follow the job</td></tr>
 *   <tr><td>running, no job</td><td>paused with an incoming job</td><td>Failed, once it has read so for a while</td><td>remove target copy, delete target volumes (an incoming job no source sends to: a target whose Prepare step hung keeps it for ever once the source's daemon has restarted and cancelled its side)</td></tr>
 *   <tr><td>any</td><td>job</td><td>Wait (job)</td><td>none: follow the job</td></tr>
 *   <tr><td>post-copy split</td><td>any</td><td>Person</td><td>none</td></tr>
 *   <tr><td>any</td><td>post-copy split</td><td>Person</td><td>none</td></tr>
 *   <tr><td>absent</td><td>running</td><td>Succeeded</td><td>delete source volumes</td></tr>
 *   <tr><td>off / paused</td><td>running</td><td>Succeeded</td><td>remove source copy, delete source volumes</td></tr>
 *   <tr><td>running</td><td>running</td><td>Succeeded</td><td>pause source, remove it, delete its volumes (the target finished the incoming move)</td></tr>
 *   <tr><td>running</td><td>absent</td><td>Failed</td><td>delete target volumes</td></tr>
 *   <tr><td>running</td><td>off / paused by migration</td><td>Failed</td><td>remove target copy, delete target volumes</td></tr>
 *   <tr><td>paused by migration</td><td>absent / off / paused by migration</td><td>Failed</td><td>remove target copy, delete target volumes, resume source</td></tr>
 *   <tr><td>paused by a person</td><td>absent / off / paused by migration</td><td>Failed</td><td>remove target copy, delete target volumes (the source stays paused)</td></tr>
 *   <tr><td>absent</td><td>paused by migration</td><td>Succeeded</td><td>resume target, delete source volumes</td></tr>
 *   <tr><td>absent</td><td>off / paused by a person</td><td>Succeeded</td><td>delete source volumes (the guest is on the target, not running)</td></tr>
 *   <tr><td>off</td><td>absent</td><td>Failed</td><td>delete target volumes (the guest is on the source, not running)</td></tr>
 *   <tr><td>off</td><td>off / paused</td><td>Person</td><td>none: two stopped copies</td></tr>
 *   <tr><td>running / paused</td><td>paused by a person</td><td>Person</td><td>none: two copies that ran</td></tr>
 *   <tr><td>absent</td><td>absent</td><td>Lost</td><td>none</td></tr>
 * </table>
 *
 * <p>One fact outlives the pass that read it: the target was seen running the guest after the
 * transfer ({@code targetHasRun}, kept in the migration's status before anything is done about
 * it). From then on the source's copy is older than what ran on the target, so the rows that would
 * resume it or delete the target's copy no longer apply (a pause of the source, a removal that
 * failed, then the target's crash would otherwise bring the older memory back):
 *
 * <table>
 *   <tr><th>source</th><th>target</th><th>outcome</th><th>actions</th></tr>
 *   <tr><td>off / paused</td><td>off / paused</td><td>Succeeded</td><td>remove source copy, delete source volumes (resume target if paused by migration)</td></tr>
 *   <tr><td>running / off / paused</td><td>absent</td><td>Person</td><td>none: the newer copy is gone, the older one is not brought back</td></tr>
 *   <tr><td>running</td><td>off / paused</td><td>Person</td><td>none: both copies ran after the transfer</td></tr>
 * </table>
 */
public final class MoveResolution {

  /** One host's copy of the guest, as read for the decision. */
  public sealed interface Reading {
    /** The host did not answer (unreachable, hung, gone from the class): nothing can be proven. */
    record Unreadable(String why) implements Reading {}

    /** The host answered: no copy of the guest there. */
    record Absent() implements Reading {}

    /** The host holds a copy in this state, with what a migration left on it. */
    record Copy(GuestState state, MigrationMark mark) implements Reading {}
  }

  public enum Outcome {
    /** A job runs, or a host cannot be read: decide later. */
    WAIT,
    /** The guest is on the target. */
    SUCCEEDED,
    /** The guest is on the source. */
    FAILED,
    /** Neither host holds the guest. */
    LOST,
    /** Nothing may be touched: a person must look (the reason says what). */
    PERSON
  }

  /** What to do to the hosts, in order. */
  public enum Action {
    PAUSE_SOURCE,
    REMOVE_SOURCE_COPY,
    DELETE_SOURCE_VOLUMES,
    REMOVE_TARGET_COPY,
    DELETE_TARGET_VOLUMES,
    RESUME_SOURCE,
    RESUME_TARGET
  }

  /**
   * The decision, with the reason a person reads in the migration's status.
   *
   * @param settles the decision stands only once the hosts have kept reading so for a while: what
   *     it answers can also be seen for a moment during an ordinary end (a host that has just come
   *     back lists what it then clears up; a target is told of the source's failure a little after
   *     the source's job ends), and acting on that moment would strand the VM or cut a move short
   */
  public record Decision(Outcome outcome, List<Action> actions, String reason, boolean settles) {
    static Decision of(Outcome outcome, String reason, Action... actions) {
      return new Decision(outcome, List.of(actions), reason, outcome == Outcome.PERSON);
    }

    static Decision afterSettling(Outcome outcome, String reason, Action... actions) {
      return new Decision(outcome, List.of(actions), reason, true);
    }
  }

  private MoveResolution() {}

  /**
   * @param targetHasRun the target was seen running the guest after the transfer, in this pass or an earlier one
   * @param sourceName and @param targetName only name the hosts in the reason
   */
  public static Decision decide(Reading source, Reading target, boolean targetHasRun, String sourceName, String targetName) {
    if (source instanceof Reading.Unreadable u) {
      return Decision.of(Outcome.WAIT, "cannot read " + sourceName + ": " + u.why());
    }
    if (target instanceof Reading.Unreadable u) {
      // Even a source that runs with no job does not prove the target holds nothing that runs:
      // libvirt resumes the source when its finish step fails, which a target that died right
      // after resuming the guest makes happen.
      return Decision.of(Outcome.WAIT, "cannot read " + targetName + ": " + u.why());
    }
    if (!targetHasRun && incomingWithoutASender(source, target)) {
      return Decision.afterSettling(Outcome.FAILED, "the guest runs on " + sourceName + ", which sends it nowhere, and the copy on "
          + targetName + " still waits for it, paused, in an incoming migration that nothing will end; that copy never"
          + " ran and is removed", Action.REMOVE_TARGET_COPY, Action.DELETE_TARGET_VOLUMES);
    }
    if (jobUnderWay(source) || jobUnderWay(target)) {
      return Decision.of(Outcome.WAIT, "the hypervisor still runs the transfer");
    }
    if (mark(source) == MigrationMark.POST_COPY_SPLIT || mark(target) == MigrationMark.POST_COPY_SPLIT) {
      return Decision.of(Outcome.PERSON, "the transfer broke during post-copy, so the guest's memory is split between "
          + sourceName + " and " + targetName + " and neither copy is whole: recover it with"
          + " `virsh migrate --postcopy --postcopy-resume` before anything else touches it");
    }
    Kind s = kind(source);
    Kind t = kind(target);
    if (t == Kind.RUNNING) {
      return switch (s) {
        case ABSENT -> Decision.of(Outcome.SUCCEEDED, "the guest runs on " + targetName, Action.DELETE_SOURCE_VOLUMES);
        case OFF, PAUSED_BY_MIGRATION, PAUSED -> Decision.of(Outcome.SUCCEEDED, "the guest runs on " + targetName
            + "; the copy left " + (s == Kind.OFF ? "stopped" : "paused") + " on " + sourceName + " is removed",
            Action.REMOVE_SOURCE_COPY, Action.DELETE_SOURCE_VOLUMES);
        case RUNNING -> Decision.of(Outcome.SUCCEEDED, "the guest ran on both " + sourceName + " and " + targetName
            + " after the transfer (the hypervisor resumed the source after the target had finished the move);"
            + " the source's copy was paused at once and removed, the target's kept",
            Action.PAUSE_SOURCE, Action.REMOVE_SOURCE_COPY, Action.DELETE_SOURCE_VOLUMES);
      };
    }
    if (targetHasRun && s != Kind.ABSENT) {
      return afterTheTargetRan(s, t, sourceName, targetName);
    }
    boolean targetNeverRan = t == Kind.ABSENT || t == Kind.OFF || t == Kind.PAUSED_BY_MIGRATION;
    if (s == Kind.RUNNING && targetNeverRan) {
      return t == Kind.ABSENT
          ? Decision.of(Outcome.FAILED, "the guest runs on " + sourceName, Action.DELETE_TARGET_VOLUMES)
          : Decision.of(Outcome.FAILED, "the guest runs on " + sourceName + "; the copy on " + targetName + " never ran and is removed",
              Action.REMOVE_TARGET_COPY, Action.DELETE_TARGET_VOLUMES);
    }
    if (s == Kind.PAUSED && targetNeverRan) {
      // Paused, but not by the move: by a person, or the host (Hyper-V pauses a guest whose
      // storage is lost). It is the guest's copy; resuming it is not the move's to decide.
      String reason = "the guest is on " + sourceName + ", paused (not by the move), and stays so";
      return t == Kind.ABSENT
          ? Decision.of(Outcome.FAILED, reason, Action.DELETE_TARGET_VOLUMES)
          : Decision.of(Outcome.FAILED, reason + "; the copy on " + targetName + " never ran and is removed",
              Action.REMOVE_TARGET_COPY, Action.DELETE_TARGET_VOLUMES);
    }
    if (s == Kind.PAUSED_BY_MIGRATION && targetNeverRan) {
      return t == Kind.ABSENT
          ? Decision.of(Outcome.FAILED, "the guest was left paused on " + sourceName + " and is resumed there",
              Action.DELETE_TARGET_VOLUMES, Action.RESUME_SOURCE)
          : Decision.of(Outcome.FAILED, "the guest was left paused on " + sourceName + " and is resumed there; the copy on "
              + targetName + " never ran and is removed", Action.REMOVE_TARGET_COPY, Action.DELETE_TARGET_VOLUMES, Action.RESUME_SOURCE);
    }
    if (s == Kind.ABSENT) {
      return switch (t) {
        case ABSENT -> Decision.of(Outcome.LOST, "the guest runs on neither " + sourceName + " nor " + targetName);
        case PAUSED_BY_MIGRATION -> Decision.of(Outcome.SUCCEEDED, "the guest had reached " + targetName
            + " and was left paused there; it is resumed", Action.RESUME_TARGET, Action.DELETE_SOURCE_VOLUMES);
        default -> Decision.of(Outcome.SUCCEEDED, "the guest is on " + targetName + " but not running there ("
            + (t == Kind.OFF ? "stopped" : "paused") + ")", Action.DELETE_SOURCE_VOLUMES);
      };
    }
    if (s == Kind.OFF && t == Kind.ABSENT) {
      return Decision.of(Outcome.FAILED, "the guest is on " + sourceName + " but not running there", Action.DELETE_TARGET_VOLUMES);
    }
    if (s == Kind.OFF) {
      return Decision.of(Outcome.PERSON, "both " + sourceName + " and " + targetName + " hold a stopped copy of the guest,"
          + " and nothing says which is current: neither is touched; remove the stale one by hand");
    }
    return Decision.of(Outcome.PERSON, "both " + sourceName + " and " + targetName + " hold a copy of the guest that has run"
        + " (" + describe(source) + " on " + sourceName + ", " + describe(target) + " on " + targetName
        + "): neither is touched; check both and remove the stale one by hand");
  }

  /**
   * The target waits, paused, for a transfer that the source does not run: the source runs the
   * guest with no job. In pre-copy the target's vCPUs start only at the end, in post-copy the
   * source is paused, so a paused incoming copy beside a running source has not run. A peer-to-peer
   * move's source job begins before the target's, so this is no move still starting; it is seen
   * for a moment at an ordinary failed end (the source cancels, then tells the target), hence the
   * settle time, and for ever when the target's Prepare step hangs (its QEMU stuck) and the
   * source's daemon restarts meanwhile: the restarted source cancels its side, and the target's
   * job waits for a Finish that never comes. The one case where the target's copy is whole is a
   * Finish step that failed on the way back to the source, which then resumed its own copy: that
   * copy is the one that has run since, and the target's is a stale one all the same.
   */
  private static boolean incomingWithoutASender(Reading source, Reading target) {
    return source instanceof Reading.Copy from && from.state() == GuestState.RUNNING && from.mark() == MigrationMark.NONE
        && target instanceof Reading.Copy to && to.state() == GuestState.PAUSED && to.mark() == MigrationMark.INCOMING_JOB;
  }

  private static boolean jobUnderWay(Reading reading) {
    return mark(reading) == MigrationMark.JOB || mark(reading) == MigrationMark.INCOMING_JOB;
  }

  /** The second table: the target has run the guest, it does not run now, and the source holds a copy. */
  private static Decision afterTheTargetRan(Kind s, Kind t, String sourceName, String targetName) {
    if (t == Kind.ABSENT) {
      return Decision.of(Outcome.PERSON, "the guest ran on " + targetName + " after the transfer and is gone from it; the copy"
          + " on " + sourceName + " (" + s.name().toLowerCase().replace('_', ' ') + ") is older than what ran there, so it is not"
          + " brought back: neither host is touched; check " + targetName + " and decide by hand");
    }
    if (s == Kind.RUNNING) {
      return Decision.of(Outcome.PERSON, "both " + sourceName + " and " + targetName + " ran the guest after the transfer"
          + " (it runs on " + sourceName + ", it is " + (t == Kind.OFF ? "stopped" : "paused") + " on " + targetName
          + "): neither is touched; check both and remove the stale one by hand");
    }
    String reason = "the guest ran on " + targetName + " after the transfer and is " + (t == Kind.OFF ? "stopped" : "paused")
        + " there now; the older copy left on " + sourceName + " is removed";
    return t == Kind.PAUSED_BY_MIGRATION
        ? Decision.of(Outcome.SUCCEEDED, reason + " and the target's resumed", Action.REMOVE_SOURCE_COPY,
            Action.DELETE_SOURCE_VOLUMES, Action.RESUME_TARGET)
        : Decision.of(Outcome.SUCCEEDED, reason, Action.REMOVE_SOURCE_COPY, Action.DELETE_SOURCE_VOLUMES);
  }

  /** Whether the target runs the guest in this reading: the fact the reconciler keeps for later passes. */
  public static boolean targetRuns(Reading target) {
    // As the table counts a copy as running (a state the hypervisor could not name included):
    // whatever it lets the first table do to the source, later passes must remember.
    return kind(target) == Kind.RUNNING && mark(target) == MigrationMark.NONE;
  }

  /** A copy as the table sees it. */
  private enum Kind { ABSENT, RUNNING, PAUSED_BY_MIGRATION, PAUSED, OFF }

  private static Kind kind(Reading reading) {
    if (!(reading instanceof Reading.Copy copy)) {
      return Kind.ABSENT;
    }
    return switch (copy.state()) {
      // A guest shutting down still runs its own code; an unknown state could be running.
      case RUNNING, SHUTTING_DOWN, UNKNOWN -> Kind.RUNNING;
      case PAUSED -> copy.mark() == MigrationMark.PAUSED_BY_MIGRATION ? Kind.PAUSED_BY_MIGRATION : Kind.PAUSED;
      case SHUT_OFF, CRASHED, SAVED -> Kind.OFF;
    };
  }

  private static MigrationMark mark(Reading reading) {
    return reading instanceof Reading.Copy copy ? copy.mark() : MigrationMark.NONE;
  }

  private static String describe(Reading reading) {
    return reading instanceof Reading.Copy copy ? copy.state().name().toLowerCase().replace('_', ' ') : "absent";
  }
}
