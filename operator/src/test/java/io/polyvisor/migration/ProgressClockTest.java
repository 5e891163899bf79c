package io.polyvisor.migration;

import static org.assertj.core.api.Assertions.assertThat;

import io.polyvisor.driver.MigrationProgress;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** When a running migration counts as making progress, for its progress timeout. */
class ProgressClockTest {

  private static final Instant START = Instant.parse("2026-11-28T00:00:00Z");
  private static final long MIB = 1L << 20;

  private final ActiveMigrations.Running fresh = new ActiveMigrations.Running(null, START);

  @Test
  void aNewLowOfTheBytesRemainingIsProgressAndTheSameOrMoreIsNot() {
    ActiveMigrations.Running first = fresh.observe(report(36 * MIB, 20 * MIB), START.plusSeconds(1));
    assertThat(first.lastProgressAt()).isEqualTo(START.plusSeconds(1));

    ActiveMigrations.Running lower = first.observe(report(36 * MIB, 10 * MIB), START.plusSeconds(2));
    assertThat(lower.lastProgressAt()).isEqualTo(START.plusSeconds(2));

    // Pre-copy resending what the guest dirtied again: no new low, the clock runs on.
    ActiveMigrations.Running resend = lower.observe(report(36 * MIB, 12 * MIB), START.plusSeconds(3));
    ActiveMigrations.Running same = resend.observe(report(36 * MIB, 10 * MIB), START.plusSeconds(4));
    assertThat(same.lastProgressAt()).isEqualTo(START.plusSeconds(2));
  }

  @Test
  void theMemoryPhaseAfterTheDisksStartsItsOwnCount() {
    // The disks were mirrored down to nothing remaining; memory then starts with more to send.
    ActiveMigrations.Running disksDone = fresh.observe(report(4 * MIB, 0), START.plusSeconds(5));
    ActiveMigrations.Running memory = disksDone.observe(report(36 * MIB, 32 * MIB), START.plusSeconds(6));

    assertThat(memory.lastProgressAt()).isEqualTo(START.plusSeconds(6));
    assertThat(memory.lowestRemainingBytes()).isEqualTo(32 * MIB);
  }

  @Test
  void noReportYetDoesNotRunTheClock() {
    ActiveMigrations.Running silent = fresh.observe(Optional.empty(), START.plusSeconds(30));
    assertThat(silent.lastProgressAt()).isEqualTo(START.plusSeconds(30));
  }

  private static Optional<MigrationProgress> report(long total, long remaining) {
    return Optional.of(new MigrationProgress(total - remaining, total, remaining, Duration.ZERO));
  }
}
