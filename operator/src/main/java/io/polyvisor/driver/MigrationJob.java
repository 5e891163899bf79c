package io.polyvisor.driver;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/** A migration under way: a live one, or a move by shutdown and restart. */
public interface MigrationJob {

  /**
   * Completes when the hypervisor's job has ended: normally when it reports success, exceptionally
   * (with a {@link HypervisorException}) when it reports failure or abort. Either is a hint, not
   * the truth: a hypervisor can report success with the source left paused and defined, or failure
   * with the target already running. Where the guest is, is read from both hosts.
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
