package io.polyvisor.migration;

import static io.polyvisor.migration.MoveResolution.Action.DELETE_SOURCE_VOLUMES;
import static io.polyvisor.migration.MoveResolution.Action.DELETE_TARGET_VOLUMES;
import static io.polyvisor.migration.MoveResolution.Action.PAUSE_SOURCE;
import static io.polyvisor.migration.MoveResolution.Action.REMOVE_SOURCE_COPY;
import static io.polyvisor.migration.MoveResolution.Action.REMOVE_TARGET_COPY;
import static io.polyvisor.migration.MoveResolution.Action.RESUME_SOURCE;
import static io.polyvisor.migration.MoveResolution.Action.RESUME_TARGET;
import static org.assertj.core.api.Assertions.assertThat;

import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.MigrationMark;
import io.polyvisor.migration.MoveResolution.Action;
import io.polyvisor.migration.MoveResolution.Decision;
import io.polyvisor.migration.MoveResolution.Outcome;
import io.polyvisor.migration.MoveResolution.Reading;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Every row of the table in {@link MoveResolution}'s class comment. */
class MoveResolutionTest {

  private static final Reading ABSENT = new Reading.Absent();
  private static final Reading RUNNING = copy(GuestState.RUNNING, MigrationMark.NONE);
  private static final Reading PAUSED = copy(GuestState.PAUSED, MigrationMark.NONE);
  private static final Reading PAUSED_BY_MIGRATION = copy(GuestState.PAUSED, MigrationMark.PAUSED_BY_MIGRATION);
  private static final Reading OFF = copy(GuestState.SHUT_OFF, MigrationMark.NONE);
  private static final Reading JOB = copy(GuestState.RUNNING, MigrationMark.JOB);
  private static final Reading INCOMING = copy(GuestState.PAUSED, MigrationMark.INCOMING_JOB);
  private static final Reading SPLIT = copy(GuestState.PAUSED, MigrationMark.POST_COPY_SPLIT);
  private static final Reading UNREADABLE = new Reading.Unreadable("connection refused");

  @Test
  void aHostThatCannotBeReadMeansWaitingWhateverTheOtherHolds() {
    for (Reading other : List.of(ABSENT, RUNNING, PAUSED, OFF)) {
      assertThat(decide(UNREADABLE, other)).isEqualTo(wait("cannot read kvm-1: connection refused"));
    }
    // Even a source that runs: libvirt resumes it when a target that had resumed the guest dies.
    for (Reading other : List.of(ABSENT, RUNNING, PAUSED, PAUSED_BY_MIGRATION, OFF, JOB, SPLIT)) {
      assertThat(decide(other, UNREADABLE)).isEqualTo(wait("cannot read kvm-2: connection refused"));
    }
  }

  @Test
  void aJobUnderWayOnEitherHostMeansFollowingIt() {
    assertThat(decide(JOB, INCOMING).outcome()).isEqualTo(Outcome.WAIT);
    assertThat(decide(PAUSED_BY_MIGRATION, INCOMING).outcome()).isEqualTo(Outcome.WAIT);
    assertThat(decide(JOB, ABSENT).outcome()).isEqualTo(Outcome.WAIT);
    assertThat(decide(JOB, ABSENT).actions()).isEmpty();
  }

  @Test
  void anIncomingJobThatNoSourceSendsToIsRemovedOnceTheHostsHaveShownItForAWhile() {
    Decision d = decide(RUNNING, INCOMING);
    assertDecision(d, Outcome.FAILED, REMOVE_TARGET_COPY, DELETE_TARGET_VOLUMES);
    assertThat(d.settles()).as("a target is told of the source's failure a moment after the source's job ends").isTrue();
    assertThat(d.reason()).startsWith("the guest runs on kvm-1, which sends it nowhere, and the copy on kvm-2 still waits for it");
    // A source that still sends, or one that is not running, leaves the job to be followed.
    assertThat(decide(JOB, INCOMING).outcome()).isEqualTo(Outcome.WAIT);
    assertThat(decide(PAUSED_BY_MIGRATION, INCOMING).outcome()).isEqualTo(Outcome.WAIT);
    // A target that runs with the job is a move finishing, and one that has run is not a copy that never ran.
    assertThat(decide(RUNNING, JOB).outcome()).isEqualTo(Outcome.WAIT);
    assertThat(decideAfterTheTargetRan(RUNNING, INCOMING).outcome()).isEqualTo(Outcome.WAIT);
    // A paused target with a job that does not say it receives (a dump, a backup), or a source
    // that is only shutting down, is no proof either.
    assertThat(decide(RUNNING, copy(GuestState.PAUSED, MigrationMark.JOB)).outcome()).isEqualTo(Outcome.WAIT);
    assertThat(decide(copy(GuestState.SHUTTING_DOWN, MigrationMark.NONE), INCOMING).outcome()).isEqualTo(Outcome.WAIT);
  }

  @Test
  void onlyThePersonRowsAndTheAbandonedIncomingOneWaitToSettle() {
    List<Reading> all = List.of(ABSENT, RUNNING, PAUSED, PAUSED_BY_MIGRATION, OFF, JOB, INCOMING, SPLIT, UNREADABLE);
    for (Reading s : all) {
      for (Reading t : all) {
        Decision d = decide(s, t);
        assertThat(d.settles()).as("%s / %s", s, t).isEqualTo(d.outcome() == Outcome.PERSON || (s == RUNNING && t == INCOMING));
      }
    }
  }

  @Test
  void aBrokenPostCopyTouchesNeitherCopy() {
    for (Reading other : List.of(ABSENT, RUNNING, PAUSED, copy(GuestState.RUNNING, MigrationMark.POST_COPY_SPLIT))) {
      assertThat(decide(SPLIT, other).outcome()).isEqualTo(Outcome.PERSON);
      assertThat(decide(SPLIT, other).actions()).isEmpty();
      assertThat(decide(other, SPLIT).outcome()).isEqualTo(Outcome.PERSON);
    }
    assertThat(decide(SPLIT, RUNNING).reason()).contains("memory is split between kvm-1 and kvm-2");
  }

  @Test
  void aRunningTargetIsTheGuestAndWhatTheSourceStillHoldsGoes() {
    assertDecision(decide(ABSENT, RUNNING), Outcome.SUCCEEDED, DELETE_SOURCE_VOLUMES);
    assertDecision(decide(OFF, RUNNING), Outcome.SUCCEEDED, REMOVE_SOURCE_COPY, DELETE_SOURCE_VOLUMES);
    assertDecision(decide(PAUSED_BY_MIGRATION, RUNNING), Outcome.SUCCEEDED, REMOVE_SOURCE_COPY, DELETE_SOURCE_VOLUMES);
    assertDecision(decide(PAUSED, RUNNING), Outcome.SUCCEEDED, REMOVE_SOURCE_COPY, DELETE_SOURCE_VOLUMES);
    assertDecision(decide(RUNNING, RUNNING), Outcome.SUCCEEDED, PAUSE_SOURCE, REMOVE_SOURCE_COPY, DELETE_SOURCE_VOLUMES);
  }

  @Test
  void aRunningSourceKeepsTheGuestAndATargetCopyThatNeverRanGoes() {
    assertDecision(decide(RUNNING, ABSENT), Outcome.FAILED, DELETE_TARGET_VOLUMES);
    assertDecision(decide(RUNNING, OFF), Outcome.FAILED, REMOVE_TARGET_COPY, DELETE_TARGET_VOLUMES);
    assertDecision(decide(RUNNING, PAUSED_BY_MIGRATION), Outcome.FAILED, REMOVE_TARGET_COPY, DELETE_TARGET_VOLUMES);
  }

  @Test
  void aSourceLeftPausedIsResumedWhenTheTargetNeverRan() {
    assertDecision(decide(PAUSED_BY_MIGRATION, ABSENT), Outcome.FAILED, DELETE_TARGET_VOLUMES, RESUME_SOURCE);
    // Paused by a person (or the host), not by the move: it stays paused.
    assertDecision(decide(PAUSED, ABSENT), Outcome.FAILED, DELETE_TARGET_VOLUMES);
    assertDecision(decide(PAUSED, OFF), Outcome.FAILED, REMOVE_TARGET_COPY, DELETE_TARGET_VOLUMES);
    assertThat(decide(PAUSED, ABSENT).reason()).isEqualTo("the guest is on kvm-1, paused (not by the move), and stays so");
    assertDecision(decide(PAUSED_BY_MIGRATION, PAUSED_BY_MIGRATION), Outcome.FAILED, REMOVE_TARGET_COPY, DELETE_TARGET_VOLUMES, RESUME_SOURCE);
    assertDecision(decide(PAUSED_BY_MIGRATION, OFF), Outcome.FAILED, REMOVE_TARGET_COPY, DELETE_TARGET_VOLUMES, RESUME_SOURCE);
  }

  @Test
  void aSourceGoneLeavesTheGuestWhereverTheTargetHasIt() {
    assertDecision(decide(ABSENT, PAUSED_BY_MIGRATION), Outcome.SUCCEEDED, RESUME_TARGET, DELETE_SOURCE_VOLUMES);
    assertDecision(decide(ABSENT, OFF), Outcome.SUCCEEDED, DELETE_SOURCE_VOLUMES);
    assertDecision(decide(ABSENT, PAUSED), Outcome.SUCCEEDED, DELETE_SOURCE_VOLUMES);
    assertDecision(decide(OFF, ABSENT), Outcome.FAILED, DELETE_TARGET_VOLUMES);
  }

  @Test
  void twoCopiesThatCouldEachBeCurrentAreLeftToAPerson() {
    for (Reading[] pair : new Reading[][] {{OFF, OFF}, {OFF, PAUSED}, {RUNNING, PAUSED}, {PAUSED, PAUSED}, {OFF, PAUSED_BY_MIGRATION}}) {
      Decision d = decide(pair[0], pair[1]);
      assertThat(d.outcome()).as("%s / %s", pair[0], pair[1]).isEqualTo(Outcome.PERSON);
      assertThat(d.actions()).isEmpty();
    }
  }

  @Test
  void aGuestOnNeitherHostIsLost() {
    assertThat(decide(ABSENT, ABSENT)).isEqualTo(new Decision(Outcome.LOST, List.of(), "the guest runs on neither kvm-1 nor kvm-2", false));
  }

  @Test
  void onceTheTargetHasRunAStoppedOrPausedSourceIsRemovedNotResumed() {
    // The source paused by the operator (both ran), its removal failed, then the target crashed.
    assertDecision(decideAfterTheTargetRan(PAUSED, OFF), Outcome.SUCCEEDED, REMOVE_SOURCE_COPY, DELETE_SOURCE_VOLUMES);
    assertDecision(decideAfterTheTargetRan(PAUSED_BY_MIGRATION, OFF), Outcome.SUCCEEDED, REMOVE_SOURCE_COPY, DELETE_SOURCE_VOLUMES);
    assertDecision(decideAfterTheTargetRan(OFF, PAUSED), Outcome.SUCCEEDED, REMOVE_SOURCE_COPY, DELETE_SOURCE_VOLUMES);
    assertDecision(decideAfterTheTargetRan(PAUSED, PAUSED_BY_MIGRATION), Outcome.SUCCEEDED, REMOVE_SOURCE_COPY,
        DELETE_SOURCE_VOLUMES, RESUME_TARGET);
    assertThat(decideAfterTheTargetRan(PAUSED, OFF).reason())
        .isEqualTo("the guest ran on kvm-2 after the transfer and is stopped there now; the older copy left on kvm-1 is removed");
    // Without that memory the same reading removes the target's copy: the row this table replaces.
    assertDecision(decide(PAUSED_BY_MIGRATION, OFF), Outcome.FAILED, REMOVE_TARGET_COPY, DELETE_TARGET_VOLUMES, RESUME_SOURCE);
  }

  @Test
  void onceTheTargetHasRunItsLossOrARunningSourceIsLeftToAPerson() {
    for (Reading source : List.of(RUNNING, PAUSED, PAUSED_BY_MIGRATION, OFF)) {
      Decision d = decideAfterTheTargetRan(source, ABSENT);
      assertThat(d.outcome()).as("%s / absent", source).isEqualTo(Outcome.PERSON);
      assertThat(d.actions()).isEmpty();
    }
    assertThat(decideAfterTheTargetRan(PAUSED, ABSENT).reason()).startsWith("the guest ran on kvm-2 after the transfer and is gone"
        + " from it; the copy on kvm-1 (paused) is older than what ran there");
    for (Reading target : List.of(OFF, PAUSED, PAUSED_BY_MIGRATION)) {
      assertThat(decideAfterTheTargetRan(RUNNING, target).outcome()).as("running / %s", target).isEqualTo(Outcome.PERSON);
    }
    // The rows where the target runs, or where the source holds nothing, are the same as before.
    assertDecision(decideAfterTheTargetRan(PAUSED, RUNNING), Outcome.SUCCEEDED, REMOVE_SOURCE_COPY, DELETE_SOURCE_VOLUMES);
    assertDecision(decideAfterTheTargetRan(ABSENT, OFF), Outcome.SUCCEEDED, DELETE_SOURCE_VOLUMES);
    assertThat(decideAfterTheTargetRan(JOB, ABSENT).outcome()).isEqualTo(Outcome.WAIT);
  }

  @Test
  void aTargetTheTableCountsAsRunningWithNoJobIsRememberedAsHavingRun() {
    assertThat(MoveResolution.targetRuns(RUNNING)).isTrue();
    assertThat(MoveResolution.targetRuns(copy(GuestState.SHUTTING_DOWN, MigrationMark.NONE))).isTrue();
    assertThat(MoveResolution.targetRuns(copy(GuestState.UNKNOWN, MigrationMark.NONE))).as("counted as running by the table").isTrue();
    for (Reading other : List.of(ABSENT, PAUSED, PAUSED_BY_MIGRATION, OFF, JOB, INCOMING, SPLIT, UNREADABLE)) {
      assertThat(MoveResolution.targetRuns(other)).as("%s", other).isFalse();
    }
  }

  @Test
  void noDecisionEverResumesOrStartsTwoCopiesOrDestroysTheOnlyOne() {
    List<Reading> all = List.of(ABSENT, RUNNING, PAUSED, PAUSED_BY_MIGRATION, OFF, JOB, INCOMING, SPLIT, UNREADABLE,
        copy(GuestState.CRASHED, MigrationMark.NONE), copy(GuestState.SAVED, MigrationMark.NONE),
        copy(GuestState.SHUTTING_DOWN, MigrationMark.NONE));
    for (Reading s : all) {
      for (Reading t : all) {
        Decision d = decide(s, t);
        Decision after = decideAfterTheTargetRan(s, t);
        assertThat(after.actions()).as("after the target ran, %s / %s", s, t)
            .doesNotContain(RESUME_SOURCE, REMOVE_TARGET_COPY, DELETE_TARGET_VOLUMES);
        if (!after.actions().isEmpty()) {
          assertThat(after.outcome()).isEqualTo(Outcome.SUCCEEDED);
        }
        List<Action> a = d.actions();
        assertThat(a.contains(RESUME_SOURCE) && a.contains(RESUME_TARGET)).isFalse();
        assertThat(a.contains(REMOVE_SOURCE_COPY) && a.contains(REMOVE_TARGET_COPY)).as("%s / %s", s, t).isFalse();
        if (a.contains(REMOVE_SOURCE_COPY) || a.contains(DELETE_SOURCE_VOLUMES)) {
          assertThat(d.outcome()).as("%s / %s", s, t).isEqualTo(Outcome.SUCCEEDED);
        }
        if (a.contains(REMOVE_TARGET_COPY) || a.contains(DELETE_TARGET_VOLUMES)) {
          assertThat(d.outcome()).as("%s / %s", s, t).isEqualTo(Outcome.FAILED);
        }
      }
    }
  }

  private static Decision decide(Reading source, Reading target) {
    return MoveResolution.decide(source, target, false, "kvm-1", "kvm-2");
  }

  private static Decision decideAfterTheTargetRan(Reading source, Reading target) {
    return MoveResolution.decide(source, target, true, "kvm-1", "kvm-2");
  }

  private static Decision wait(String reason) {
    return new Decision(Outcome.WAIT, List.of(), reason, false);
  }

  /** A decision compared on its outcome and actions; the reason is for people. */
  private static void assertDecision(Decision decision, Outcome outcome, Action... actions) {
    assertThat(decision.outcome()).as(decision.reason()).isEqualTo(outcome);
    assertThat(decision.actions()).as(decision.reason()).containsExactly(actions);
  }

  private static Reading copy(GuestState state, MigrationMark mark) {
    return new Reading.Copy(state, mark);
  }
}
