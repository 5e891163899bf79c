package io.polyvisor.planner;

import io.polyvisor.api.v1alpha1.MigrationMethod;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;

/**
 * How fast a class's migrations move data, as its recent successful migrations measured it: the
 * median, over the {@value #SAMPLES} newest, of the bytes each moved divided by how long it ran.
 * Capped by the class's bandwidth limit; when nothing was measured yet, the limit, or an assumed
 * {@value #ASSUMED_MIB_PER_SECOND} MiB/s, and the basis says so.
 *
 * @param basis how the figure was made, in words, for the person reading the plan
 */
public record Throughput(double bytesPerSecond, int samples, String basis) {

  static final int SAMPLES = 10;
  static final int ASSUMED_MIB_PER_SECOND = 100;
  private static final double MIB = 1024 * 1024;

  /** @param bandwidthMiBps the class's cap per migration, 0 or null for none */
  public static Throughput of(String className, List<VirtualMachineMigration> migrationsOfClass, Integer bandwidthMiBps) {
    List<Double> rates = migrationsOfClass.stream()
        .filter(m -> m.getStatus() != null && m.getStatus().phase == MigrationPhase.Succeeded)
        // Live moves only: a restart's time is mostly its guest's shutdown and boot, and on shared
        // storage it moves no bytes at all.
        .filter(m -> m.getSpec().method != MigrationMethod.Restart)
        .filter(m -> m.getStatus().startTime != null && m.getStatus().completionTime != null && m.getStatus().dataTotalBytes != null
            && m.getStatus().dataTotalBytes > 0)
        .sorted(Comparator.comparing((VirtualMachineMigration m) -> Instant.parse(m.getStatus().completionTime)).reversed())
        .limit(SAMPLES)
        .map(m -> m.getStatus().dataTotalBytes
            / Math.max(0.001, Duration.between(Instant.parse(m.getStatus().startTime), Instant.parse(m.getStatus().completionTime)).toMillis() / 1000.0))
        .sorted()
        .toList();
    boolean capped = bandwidthMiBps != null && bandwidthMiBps > 0;
    if (rates.isEmpty()) {
      return capped
          ? new Throughput(bandwidthMiBps * MIB, 0, "no migration of class " + className + " measured yet: the class's bandwidthMiBps, "
              + bandwidthMiBps + " MiB/s")
          : new Throughput(ASSUMED_MIB_PER_SECOND * MIB, 0, "no migration of class " + className + " measured yet: "
              + ASSUMED_MIB_PER_SECOND + " MiB/s assumed");
    }
    double median = rates.size() % 2 == 1 ? rates.get(rates.size() / 2)
        : (rates.get(rates.size() / 2 - 1) + rates.get(rates.size() / 2)) / 2;
    String basis = "the median of the " + rates.size() + " newest successful migrations of class " + className + " ("
        + mib(rates.get(0)) + " to " + mib(rates.get(rates.size() - 1)) + " MiB/s)";
    if (capped && bandwidthMiBps * MIB < median) {
      return new Throughput(bandwidthMiBps * MIB, rates.size(), basis + ", capped by the class's bandwidthMiBps " + bandwidthMiBps);
    }
    return new Throughput(median, rates.size(), basis);
  }

  /** Seconds to move {@code bytes}. */
  public double seconds(long bytes) {
    return bytesPerSecond > 0 ? bytes / bytesPerSecond : 0;
  }

  public double mibPerSecond() {
    return bytesPerSecond / MIB;
  }

  private static String mib(double bytesPerSecond) {
    return String.format(java.util.Locale.ROOT, "%.1f", bytesPerSecond / MIB);
  }
}
