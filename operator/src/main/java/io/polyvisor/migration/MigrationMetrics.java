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
 * histograms of the ones that moved their guest, by method. No label names a VM.
 */
final class MigrationMetrics {

  private MigrationMetrics() {}

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
          .tag("method", method).publishPercentileHistogram().register(Metrics.globalRegistry)
          .record(Duration.between(Instant.parse(status.startTime), now));
    }
    if (status.downtimeMillis != null) {
      Timer.builder("polyvisor.migration.downtime").description("How long the guest was paused at the switch-over")
          .tag("method", method).publishPercentileHistogram().register(Metrics.globalRegistry)
          .record(Duration.ofMillis(status.downtimeMillis));
    }
    if (status.dataProcessedBytes != null) {
      DistributionSummary.builder("polyvisor.migration.transferred").baseUnit("bytes")
          .description("Memory and disk bytes a migration moved").tag("method", method).publishPercentileHistogram()
          .register(Metrics.globalRegistry).record(status.dataProcessedBytes);
    }
  }
}
