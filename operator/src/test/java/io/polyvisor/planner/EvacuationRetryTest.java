package io.polyvisor.planner;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachineMigrationStatus;
import io.polyvisor.migration.MigrationLabels;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** When a VM whose evacuation keeps failing is tried again, and when it counts as blocking. */
class EvacuationRetryTest {

  private static final Instant CORDONED = Instant.parse("2026-12-01T10:00:00Z");

  @ParameterizedTest(name = "after {0} failures in a row the wait is {1} s")
  @CsvSource({
      "1, 20",
      "2, 40",
      "3, 80",
      "4, 160",
      "5, 300",
      "6, 300",
      "64, 300",
  })
  void theWaitDoublesWithEachFailureInARowUpToFiveMinutes(int failures, long seconds) {
    assertThat(EvacuationRetry.delayAfter(failures)).isEqualTo(Duration.ofSeconds(seconds));
  }

  @ParameterizedTest(name = "{0}; now +{1} s: {2}")
  @CsvSource(delimiter = '|', textBlock = """
      # history (oldest first, each ended 1 s after the last; F failed, A aborted, S succeeded) | now, s after the last end | decision
      ''    | 0   | go
      S     | 0   | go
      F     | 19  | wait until +20 s
      F     | 20  | go
      A     | 19  | wait until +20 s
      FF    | 39  | wait until +40 s
      FF    | 40  | go
      FFF   | 79  | wait until +80 s
      FFFF  | 159 | wait until +160 s
      FFFFF | 299 | wait until +300 s
      FFFFF | 300 | go
      FSF   | 19  | wait until +20 s
      FFSF  | 20  | go
      FFFS  | 0   | go
      """)
  void aFailedVmIsRetriedOnceItsWaitIsOver(String history, long secondsAfter, String expected) {
    List<VirtualMachineMigration> migrations = history(history, "same reason");
    Instant lastEnd = CORDONED.plusSeconds(10 + history.length());

    EvacuationRetry.Decision decision = EvacuationRetry.decide(migrations, "kvm-1", CORDONED, lastEnd.plusSeconds(secondsAfter));

    assertThat(describe(decision, lastEnd)).isEqualTo(expected);
  }

  @Test
  void failuresBeforeTheCordonOrFromAnotherNodeDoNotCount() {
    List<VirtualMachineMigration> migrations = new ArrayList<>();
    migrations.add(migration("kvm-1", CORDONED.minusSeconds(60), CORDONED.minusSeconds(50), MigrationPhase.Failed, "x"));
    migrations.add(migration("kvm-2", CORDONED.plusSeconds(1), CORDONED.plusSeconds(2), MigrationPhase.Failed, "x"));
    migrations.add(migration(null, CORDONED.plusSeconds(3), CORDONED.plusSeconds(4), MigrationPhase.Failed, "x"));
    migrations.add(migration("kvm-1", CORDONED.plusSeconds(5), CORDONED.plusSeconds(6), MigrationPhase.Failed, "x"));

    EvacuationRetry.Decision decision = EvacuationRetry.decide(migrations, "kvm-1", CORDONED, CORDONED.plusSeconds(7));

    assertThat(decision).isEqualTo(new EvacuationRetry.Wait(CORDONED.plusSeconds(26), 1, Optional.empty()));
  }

  @Test
  void threeFailuresInARowWithOneMessageBlockTheVm() {
    List<VirtualMachineMigration> migrations = history("FFF", "no target for the migration: no room");

    assertThat(blocking(migrations, CORDONED.plusSeconds(13 + 30)))
        .contains("3 moves failed: no target for the migration: no room; next try in 50 s");
  }

  @Test
  void theNextTryIsCountedInWholeSecondsRoundedUp() {
    List<VirtualMachineMigration> migrations = history("FFFF", "stuck");

    assertThat(blocking(migrations, CORDONED.plusSeconds(14).plusMillis(159_001)))
        .contains("4 moves failed: stuck; next try in 1 s");
  }

  @Test
  void failuresForDifferentReasonsAreRetriedWithoutBlocking() {
    List<VirtualMachineMigration> migrations = history("FF", "stuck");
    migrations.add(migration("kvm-1", CORDONED.plusSeconds(20), CORDONED.plusSeconds(21), MigrationPhase.Failed, "target died"));

    EvacuationRetry.Decision decision = EvacuationRetry.decide(migrations, "kvm-1", CORDONED, CORDONED.plusSeconds(22));

    assertThat(decision).isInstanceOfSatisfying(EvacuationRetry.Wait.class, wait -> {
      assertThat(wait.failures()).isEqualTo(3);
      assertThat(wait.blocking(CORDONED.plusSeconds(22))).isEmpty();
    });
  }

  @Test
  void onlyTheNewestFailuresWithOneMessageAreCounted() {
    List<VirtualMachineMigration> migrations = new ArrayList<>();
    migrations.add(migration("kvm-1", CORDONED.plusSeconds(1), CORDONED.plusSeconds(2), MigrationPhase.Failed, "target died"));
    migrations.addAll(history("FFF", "stuck"));

    assertThat(blocking(migrations, CORDONED.plusSeconds(14)))
        .contains("3 moves failed: stuck; next try in 159 s");
  }

  @Test
  void theOrderOfTheListDoesNotMatter() {
    List<VirtualMachineMigration> migrations = new ArrayList<>(history("FFS", "stuck"));
    migrations.add(0, migrations.remove(2));

    assertThat(EvacuationRetry.decide(migrations, "kvm-1", CORDONED, CORDONED.plusSeconds(14)))
        .isInstanceOf(EvacuationRetry.Go.class);
  }

  /** Migrations from kvm-1, created 10 s after the cordon and ending 1 s apart, oldest first. */
  private static List<VirtualMachineMigration> history(String phases, String message) {
    List<VirtualMachineMigration> migrations = new ArrayList<>();
    for (int i = 0; i < phases.length(); i++) {
      MigrationPhase phase = switch (phases.charAt(i)) {
        case 'F' -> MigrationPhase.Failed;
        case 'A' -> MigrationPhase.Aborted;
        default -> MigrationPhase.Succeeded;
      };
      Instant end = CORDONED.plusSeconds(11 + i);
      migrations.add(migration("kvm-1", end.minusMillis(500), end, phase, phase == MigrationPhase.Succeeded ? "moved" : message));
    }
    return migrations;
  }

  private static VirtualMachineMigration migration(String node, Instant created, Instant ended, MigrationPhase phase, String message) {
    VirtualMachineMigration m = new VirtualMachineMigration();
    m.setMetadata(new ObjectMetaBuilder().withName("vm-evac-" + ended.getEpochSecond()).withNamespace("ns")
        .withLabels(node == null ? Map.of() : Map.of(MigrationLabels.EVACUATED_NODE, node))
        .withCreationTimestamp(created.toString()).build());
    m.getSpec().vmName = "vm";
    m.setStatus(new VirtualMachineMigrationStatus());
    m.getStatus().phase = phase;
    m.getStatus().completionTime = ended.toString();
    m.getStatus().message = message;
    return m;
  }

  /** What the node condition says of a VM with these migrations that waits to be retried. */
  private static Optional<String> blocking(List<VirtualMachineMigration> migrations, Instant now) {
    return ((EvacuationRetry.Wait) EvacuationRetry.decide(migrations, "kvm-1", CORDONED, now)).blocking(now);
  }

  private static String describe(EvacuationRetry.Decision decision, Instant lastEnd) {
    return decision instanceof EvacuationRetry.Wait wait
        ? "wait until +" + Duration.between(lastEnd, wait.retryAt()).toSeconds() + " s"
        : "go";
  }
}
