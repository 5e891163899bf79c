package io.polyvisor.migration;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.Timer;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachineMigrationStatus;
import java.time.Duration;
import java.time.Instant;

/**
 * What migrations did, for Prometheus: {@code polyvisor_migrations_total{method, reason, phase}}
 * counts them as they end; {@code polyvisor_migration_duration_seconds}, {@code
 * polyvisor_migration_downtime_seconds} and {@code polyvisor_migration_transferred_bytes} are
 * histograms of the ones that moved their guest, by method, with a few buckets each. No label names
 * a VM. A migration whose final status write is lost and redone is counted twice.
 */
final class MigrationMetrics {

  private static final double MIB = 1 << 20;

  private MigrationMetrics() {}

  private static Duration[] seconds(long... values) {
    return java.util.Arrays.stream(values).mapToObj(Duration::ofSeconds).toArray(Duration[]::new);
  }

  private static Duration[] millis(long... values) {
    return java.util.Arrays.stream(values).mapToObj(Duration::ofMillis).toArray(Duration[]::new);
  }

  static void ended(VirtualMachineMigration migration, VirtualMachineMigrationStatus status, MigrationPhase phase, Instant now) {
    String method = migration.getSpec().method == null ? "Live" : migration.getSpec().method.name();
    String reason = migration.getSpec().reason == null ? "Manual" : migration.getSpec().reason.name();
    Counter.builder("polyvisor.migrations").description("Migrations that ended, by method, reason and final phase")
        .tag("method", method).tag("reason", reason).tag("phase", phase.name())
        .register(Metrics.globalRegistry).increment();
    if (phase != MigrationPhase.Succeeded) {
      return;
    }
    if (status.startTime != null) {
      Timer.builder("polyvisor.migration.duration").description("From the start of a transfer to its verified end")
          .tag("method", method).serviceLevelObjectives(seconds(1, 5, 10, 30, 60, 120, 300, 600, 1800))
          .register(Metrics.globalRegistry).record(Duration.between(Instant.parse(status.startTime), now));
    }
    if (status.downtimeMillis != null) {
      Timer.builder("polyvisor.migration.downtime").description("How long the guest was paused at the switch-over")
          .tag("method", method).serviceLevelObjectives(millis(10, 50, 100, 200, 300, 500, 1000, 2000, 5000, 30000))
          .register(Metrics.globalRegistry).record(Duration.ofMillis(status.downtimeMillis));
    }
    if (status.dataProcessedBytes != null) {
      DistributionSummary.builder("polyvisor.migration.transferred").baseUnit("bytes")
          .description("Memory and disk bytes a migration moved").tag("method", method)
          .serviceLevelObjectives(16.0 * MIB, 64.0 * MIB, 256.0 * MIB, 1024.0 * MIB, 4096.0 * MIB, 16384.0 * MIB, 65536.0 * MIB)
          .register(Metrics.globalRegistry).record(status.dataProcessedBytes);
    }
  }
}
