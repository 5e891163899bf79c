package io.polyvisor.driver;

import java.time.Duration;

/** How far a migration got, as the source hypervisor reports it. */
public record MigrationProgress(long processedBytes, long totalBytes, long remainingBytes, Duration elapsed) {

  /** 0 to 100; 0 before the hypervisor knows the total. */
  public int percent() {
    if (totalBytes <= 0) {
      return 0;
    }
    return (int) Math.min(100, Math.max(0, (totalBytes - remainingBytes) * 100 / totalBytes));
  }
}
