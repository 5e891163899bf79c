package io.polyvisor.driver;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/** A migration under way: a live one, or a move by shutdown and restart. */
public interface MigrationJob {

  /**
   * Completes when the guest runs on the target and is gone from the source; completes
   * exceptionally (with a {@link HypervisorException}) when the migration failed or was aborted,
   * in which case the guest still runs on the source.
   */
  CompletableFuture<MigrationResult> completion();

  /** The latest progress report, empty before the hypervisor has one. */
  Optional<MigrationProgress> progress();

  /**
   * Ends pre-copy: the guest resumes on the target at once and fetches the memory it still lacks
   * from the source as it touches it. A transfer that cannot converge then finishes, but it can no
   * longer be aborted, and a broken link before the last page arrives loses the running guest.
   * Only for a migration started with {@link MigrationOptions#postCopy()}.
   */
  void switchToPostCopy();

  /**
   * Asks the hypervisor to cancel; the guest keeps running on the source. A move past its point
   * of no return (post-copy, or a guest already shut down for a restart) finishes instead.
   */
  void abort();
}
