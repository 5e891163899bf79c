package io.polyvisor.driver.libvirt;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.driver.LogContext;
import io.polyvisor.driver.MigrationJob;
import io.polyvisor.driver.MigrationOptions;
import io.polyvisor.driver.MigrationProgress;
import io.polyvisor.driver.MigrationResult;
import java.net.URI;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.libvirt.Domain;
import org.libvirt.DomainJobInfo;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One libvirt live migration, run peer to peer: the source daemon connects to the target daemon
 * and drives the whole protocol itself, so the transfer does not depend on this process (libvirt's
 * client-driven protocol cancels a transfer whose client goes away, and a client lost between its
 * Perform and Confirm steps leaves the source paused). The target holds a paused copy that becomes
 * the guest only when the source's copy stops; the definition moves with it (persist on target,
 * undefine on source).
 *
 * <p>A job is either started here ({@link #start}) or followed again after an operator restart
 * ({@link #follow}); both report progress from the source's job and complete when that job has
 * ended. What libvirt says of the outcome is a hint (its confirm step can fail after the target
 * resumed): the migration controller reads both hosts to decide.
 */
final class LibvirtMigration implements MigrationJob {

  private static final Logger log = LoggerFactory.getLogger(LibvirtMigration.class);

  // virDomainMigrateFlags, from libvirt-domain.h (libvirt-java 0.5.2 keeps them private).
  static final long LIVE = 1L;
  static final long PEER2PEER = 1L << 1;
  static final long PERSIST_DEST = 1L << 3;
  static final long UNDEFINE_SOURCE = 1L << 4;
  static final long NON_SHARED_DISK = 1L << 6;
  static final long UNSAFE = 1L << 9;
  static final long ABORT_ON_ERROR = 1L << 12;
  static final long AUTO_CONVERGE = 1L << 13;
  static final long POSTCOPY = 1L << 15;
  static final long TLS = 1L << 16;

  private static final Duration PROGRESS_PERIOD = Duration.ofMillis(500);

  private final Host source;
  private final Host target;
  private final String uid;
  private final Domain domain;
  private final LibvirtConnection sourceConnection;
  private final LibvirtConnection targetConnection;
  private final CompletableFuture<MigrationResult> completion = new CompletableFuture<>();
  private final AtomicReference<MigrationProgress> progress = new AtomicReference<>();
  private final ScheduledExecutorService poller;

  private LibvirtMigration(
      Host source, Host target, String uid, Domain domain, LibvirtConnection sourceConnection, LibvirtConnection targetConnection) {
    this.source = source;
    this.target = target;
    this.uid = uid;
    this.domain = domain;
    this.sourceConnection = sourceConnection;
    this.targetConnection = targetConnection;
    this.poller =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "migration-progress-" + uid);
              t.setDaemon(true);
              return t;
            });
  }

  /** Starts the migration: the source daemon runs it; this returns at once. */
  static LibvirtMigration start(
      Host source,
      LibvirtConnection sourceConnection,
      Domain domain,
      Host target,
      LibvirtConnection targetConnection,
      String uid,
      MigrationOptions options) {
    LibvirtMigration job = new LibvirtMigration(source, target, uid, domain, sourceConnection, targetConnection);
    job.poller.scheduleWithFixedDelay(LogContext.carrying((Runnable) job::poll), 0, PROGRESS_PERIOD.toMillis(), TimeUnit.MILLISECONDS);
    Thread runner = new Thread(LogContext.carrying(() -> job.run(options)), "migration-" + uid);
    runner.setDaemon(true);
    runner.start();
    log.info("live migration of {} from {} to {} started (peer to peer)", uid, source, target);
    return job;
  }

  /**
   * The migration of the guest that the source daemon still runs, followed from here: after an
   * operator restart, or when the start of a transfer was not recorded. Empty when no migration
   * job of the guest runs on the source.
   */
  static Optional<LibvirtMigration> follow(
      Host source, LibvirtConnection sourceConnection, Domain domain, Host target, LibvirtConnection targetConnection, String uid) {
    if (!jobUnderWay(domain)) {
      return Optional.empty();
    }
    LibvirtMigration job = new LibvirtMigration(source, target, uid, domain, sourceConnection, targetConnection);
    job.poller.scheduleWithFixedDelay(LogContext.carrying((Runnable) job::pollUntilEnded), 0, PROGRESS_PERIOD.toMillis(),
        TimeUnit.MILLISECONDS);
    log.info("following the live migration of {} from {} to {} that the source still runs", uid, source, target);
    return Optional.of(job);
  }

  private void run(MigrationOptions options) {
    LibvirtNative lib = LibvirtNative.INSTANCE;
    Pointer dom = lib.virDomainLookupByUUIDString(sourceConnection.pointer(), uid);
    try {
      if (dom == null) {
        throw new HypervisorException("NO_DOMAIN", "guest " + uid + " is no longer on " + source + "; nothing to migrate");
      }
      PointerByReference params = new PointerByReference();
      IntByReference count = new IntByReference();
      IntByReference max = new IntByReference();
      try {
        // The data stream goes to the target's own address, not to a name the target resolves itself.
        lib.virTypedParamsAddString(params, count, max, "migrate_uri", migrationUri(target));
        if (options.bandwidthMiBps() > 0) {
          lib.virTypedParamsAddULLong(params, count, max, "bandwidth", options.bandwidthMiBps());
        }
        if (lib.virDomainMigrateToURI3(dom, target.endpoint(), params.getValue(), count.getValue(), flags(options)) != 0) {
          throw new HypervisorException(LibvirtErrors.lastCode().name(),
              "live migration of " + uid + " from " + source + " to " + target + " failed: " + LibvirtErrors.lastMessage());
        }
      } finally {
        if (params.getValue() != null) {
          lib.virTypedParamsFree(params.getValue(), count.getValue());
        }
      }
      completion.complete(finished());
    } catch (HypervisorException e) {
      completion.completeExceptionally(e);
    } catch (RuntimeException e) {
      completion.completeExceptionally(
          new HypervisorException("MIGRATION_FAILED", "live migration of " + uid + " to " + target + " failed: " + e, e));
    } finally {
      if (dom != null) {
        lib.virDomainFree(dom);
      }
      poller.shutdown();
    }
  }

  static long flags(MigrationOptions options) {
    long flags = LIVE | PEER2PEER | PERSIST_DEST | UNDEFINE_SOURCE | ABORT_ON_ERROR;
    // Shared storage that libvirt does not recognise as a cluster filesystem is declared safe
    // only because the StorageClass says every host sees it; otherwise the disks are copied.
    flags |= options.sharedStorage() ? UNSAFE : NON_SHARED_DISK;
    if (options.autoConverge()) {
      flags |= AUTO_CONVERGE;
    }
    if (options.postCopy()) {
      flags |= POSTCOPY;
    }
    if (options.tls()) {
      // Each QEMU uses its host's certificates (/etc/pki/qemu); the disks copied over NBD go through TLS too.
      flags |= TLS;
    }
    return flags;
  }

  /** Where the target's QEMU listens for the migration stream: the host of its libvirt endpoint. */
  static String migrationUri(Host target) {
    String host = URI.create(target.endpoint()).getHost();
    if (host == null || host.isEmpty()) {
      throw new HypervisorException("INVALID_ENDPOINT", "endpoint of " + target + " names no host to migrate to");
    }
    return "tcp://" + host;
  }

  /** Whether a job of the domain runs on its host (for a source: the outgoing migration). */
  private static boolean jobUnderWay(Domain domain) {
    try {
      DomainJobInfo info = domain.getJobInfo();
      return info.getType() != LibvirtNative.VIR_DOMAIN_JOB_NONE && info.getType() < LibvirtNative.VIR_DOMAIN_JOB_COMPLETED;
    } catch (LibvirtException e) {
      return false; // the domain went away with its job
    }
  }

  private void poll() {
    try {
      DomainJobInfo info = domain.getJobInfo();
      if (info.getDataTotal() > 0) {
        progress.set(
            new MigrationProgress(
                info.getDataProcessed(), info.getDataTotal(), info.getDataRemaining(), Duration.ofMillis(info.getTimeElapsed())));
      }
    } catch (LibvirtException e) {
      // The job ends (and the source domain goes away) between polls: nothing to report then.
      log.debug("job info of {} on {}: {}", uid, source, e.getMessage());
    }
  }

  /** For a followed job: progress while the source's job runs, completion once it has ended. */
  private void pollUntilEnded() {
    if (completion.isDone()) {
      return;
    }
    poll();
    if (!jobUnderWay(domain)) {
      log.info("the followed migration of {} from {} to {} has ended", uid, source, target);
      completion.complete(finished());
      poller.shutdown();
    }
  }

  private MigrationResult finished() {
    MigrationProgress last = progress.get();
    Map<String, Long> stats = completedStats();
    MigrationProgress done =
        new MigrationProgress(
            stats.getOrDefault("data_processed", last == null ? 0 : last.processedBytes()),
            stats.getOrDefault("data_total", last == null ? 0 : last.totalBytes()),
            0,
            Duration.ofMillis(stats.getOrDefault("time_elapsed", 0L)));
    progress.set(done);
    return new MigrationResult(done, Optional.ofNullable(stats.get("downtime")).map(Duration::ofMillis));
  }

  /**
   * The statistics of the completed job (downtime, bytes, time), which only the typed-parameter
   * call returns. Asked of the target: the source's copy is undefined by then, and the target keeps
   * the completed statistics of the incoming migration.
   */
  private Map<String, Long> completedStats() {
    Map<String, Long> stats = new HashMap<>();
    if (targetConnection == null) {
      return stats; // followed without the target, which did not answer
    }
    LibvirtNative lib = LibvirtNative.INSTANCE;
    Pointer dom = lib.virDomainLookupByUUIDString(targetConnection.pointer(), uid);
    if (dom == null) {
      return stats;
    }
    try {
      IntByReference type = new IntByReference();
      PointerByReference params = new PointerByReference();
      IntByReference count = new IntByReference();
      if (lib.virDomainGetJobStats(dom, type, params, count, LibvirtNative.VIR_DOMAIN_JOB_STATS_COMPLETED) == 0) {
        stats.putAll(TypedParameters.longs(params.getValue(), count.getValue()));
        lib.virTypedParamsFree(params.getValue(), count.getValue());
      }
    } finally {
      lib.virDomainFree(dom);
    }
    return stats;
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
    LibvirtNative lib = LibvirtNative.INSTANCE;
    Pointer dom = lib.virDomainLookupByUUIDString(sourceConnection.pointer(), uid);
    if (dom == null) {
      throw new HypervisorException("NO_DOMAIN", "guest " + uid + " is no longer on " + source + "; nothing to switch to post-copy");
    }
    try {
      if (lib.virDomainMigrateStartPostCopy(dom, 0) != 0) {
        throw new HypervisorException("POSTCOPY_REFUSED", "libvirt on " + source + " refused to switch the migration of " + uid
            + " to post-copy: " + LibvirtErrors.lastMessage());
      }
      log.info("live migration of {} from {} to {} switched to post-copy", uid, source, target);
    } finally {
      lib.virDomainFree(dom);
    }
  }

  /** Asks the source daemon to cancel; any client may, not only the one that started the job. */
  @Override
  public void abort() {
    try {
      domain.abortJob();
      log.info("live migration of {} from {} to {} aborted", uid, source, target);
    } catch (LibvirtException e) {
      throw LibvirtErrors.translate(e, source, "abort migration of " + uid);
    }
  }
}
