package io.polyvisor.driver;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/** A live migration under way. */
public interface MigrationJob {

  /**
   * Completes when the guest runs on the target and is gone from the source; completes
   * exceptionally (with a {@link HypervisorException}) when the migration failed or was aborted,
   * in which case the guest still runs on the source.
   */
  CompletableFuture<MigrationResult> completion();

  /** The latest progress report, empty before the hypervisor has one. */
  Optional<MigrationProgress> progress();

  /** Asks the hypervisor to cancel; the guest keeps running on the source. */
  void abort();
}
