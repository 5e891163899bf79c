package io.polyvisor.migration;

import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HypervisorDriver;
import io.polyvisor.driver.LogContext;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.driver.MigrationJob;
import io.polyvisor.driver.MigrationProgress;
import io.polyvisor.driver.MigrationResult;
import io.polyvisor.driver.StoragePoolSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A migration with method Restart: shut the guest down on the source (gracefully, then forced),
 * move it shut off with its disks, delete the source's volumes and start it on the target. Every
 * run first reads where the guest is and carries on from there, so a new leader resumes an
 * interrupted move by running it again:
 *
 * <table>
 *   <tr><th>source</th><th>target</th><th>what the run does</th></tr>
 *   <tr><td>running</td><td>absent</td><td>everything, from the shutdown</td></tr>
 *   <tr><td>shut off</td><td>absent</td><td>copy the disks again, move the definition, then on</td></tr>
 *   <tr><td>shut off</td><td>shut off</td><td>the definition reached the target (only after the disks): undefine the source, then on</td></tr>
 *   <tr><td>absent</td><td>shut off</td><td>delete the source's volumes, start on the target</td></tr>
 *   <tr><td>absent</td><td>running</td><td>delete the source's volumes; done</td></tr>
 *   <tr><td>running</td><td>present</td><td>someone started the source again: fail, touching neither</td></tr>
 *   <tr><td>absent</td><td>absent</td><td>fail: the guest is on neither host</td></tr>
 * </table>
 *
 * The guest is started only on the target, and only once no definition is left on the source.
 * Abort is honoured until the shutdown begins; after that the quickest way back to a running
 * guest is to finish.
 */
final class RestartMove implements MigrationJob {

  private static final Logger log = LoggerFactory.getLogger(RestartMove.class);

  /** A disk's volume on the source, deleted once the guest has left. */
  record SourceVolume(StoragePoolSpec pool, String name) {}

  private final HypervisorDriver driver;
  private final Host source;
  private final Host target;
  private final String uid;
  private final boolean sharedStorage;
  private final List<SourceVolume> sourceVolumes;
  private final Duration grace;
  private final CompletableFuture<MigrationResult> completion = new CompletableFuture<>();
  private final AtomicReference<MigrationProgress> progress = new AtomicReference<>();
  private final AtomicBoolean abortRequested = new AtomicBoolean();
  private final AtomicBoolean stopping = new AtomicBoolean();

  private RestartMove(HypervisorDriver driver, Host source, Host target, String uid, boolean sharedStorage,
      List<SourceVolume> sourceVolumes, Duration grace) {
    this.driver = driver;
    this.source = source;
    this.target = target;
    this.uid = uid;
    this.sharedStorage = sharedStorage;
    this.sourceVolumes = sourceVolumes;
    this.grace = grace;
  }

  /**
   * Starts the move on a thread of its own and returns at once.
   *
   * @param abortRequested the move is cancelled already: it stops before the shutdown if it has not begun
   */
  static RestartMove start(HypervisorDriver driver, Host source, Host target, String uid, boolean sharedStorage,
      List<SourceVolume> sourceVolumes, Duration grace, boolean abortRequested) {
    RestartMove move = new RestartMove(driver, source, target, uid, sharedStorage, sourceVolumes, grace);
    move.abortRequested.set(abortRequested);
    // Its log lines name the migration, like the reconciler's.
    Thread runner = new Thread(LogContext.carrying(() -> {
      try {
        move.completion.complete(move.run());
      } catch (RuntimeException e) {
        move.completion.completeExceptionally(e);
      }
    }), "restart-move-" + uid);
    runner.setDaemon(true);
    runner.start();
    return move;
  }

  private MigrationResult run() {
    Optional<GuestInfo> onSource = driver.find(source, uid);
    Optional<GuestInfo> onTarget = driver.find(target, uid);
    Optional<Instant> stoppedAt = Optional.empty();
    if (onTarget.isEmpty()) {
      if (onSource.isEmpty()) {
        throw new HypervisorException("GUEST_LOST", "the guest is on neither " + source.nodeName() + " nor " + target.nodeName());
      }
      if (onSource.get().state().isActive()) {
        stoppedAt = Optional.of(stop());
      }
      driver.moveStopped(source, target, uid, sharedStorage, progress::set);
    } else if (onSource.isPresent()) {
      if (onSource.get().state().isActive()) {
        throw new HypervisorException("RUNNING_ON_SOURCE", "the guest runs on " + source.nodeName() + " while a copy is defined on "
            + target.nodeName() + "; neither is touched");
      }
      driver.undefine(source, uid);
    }
    if (!sharedStorage) {
      sourceVolumes.forEach(v -> driver.deleteVolume(source, v.pool(), v.name()));
    }
    driver.start(target, uid);
    Optional<Duration> downtime = stoppedAt.map(at -> Duration.between(at, Instant.now()));
    log.info("guest {} restarted on {} after moving from {}{}", uid, target, source,
        downtime.map(d -> " (" + d.toMillis() + " ms down)").orElse(""));
    MigrationProgress last = progress.get();
    return new MigrationResult(last == null ? new MigrationProgress(0, 0, 0, Duration.ZERO) : last, downtime);
  }

  /** Shuts the guest down on the source: gracefully, then by cutting its power after the grace period. */
  private Instant stop() {
    synchronized (stopping) {
      if (abortRequested.get()) {
        throw new HypervisorException("ABORTED", "aborted before the guest was shut down");
      }
      stopping.set(true);
    }
    Instant at = Instant.now();
    if (!driver.shutdown(source, uid, grace)) {
      log.info("guest {} did not shut down within {} s on {}; forcing it off", uid, grace.toSeconds(), source);
      driver.forceStop(source, uid);
    }
    return at;
  }

  @Override
  public CompletableFuture<MigrationResult> completion() {
    return completion;
  }

  @Override
  public Optional<MigrationProgress> progress() {
    return Optional.ofNullable(progress.get());
  }

  @Override
  public void switchToPostCopy() {
    throw new HypervisorException("NOT_LIVE", "a Restart migration has no post-copy phase");
  }

  /** Honoured until the shutdown begins; afterwards the move finishes. */
  @Override
  public void abort() {
    synchronized (stopping) {
      abortRequested.set(true);
      if (stopping.get()) {
        log.info("abort of the move of {} ignored: the guest is already being shut down", uid);
      }
    }
  }
}
