package io.polyvisor.driver.libvirt;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HypervisorException;
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
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.libvirt.Domain;
import org.libvirt.DomainJobInfo;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One libvirt live migration, run as libvirt's managed migration: the source daemon drives it,
 * the target holds a paused copy that becomes the guest only when the source's copy stops, so at
 * no instant do two copies run; a failure or abort kills the target's copy and leaves the source
 * running. The domain's definition moves with it (persist on target, undefine on source).
 */
final class LibvirtMigration implements MigrationJob {

  private static final Logger log = LoggerFactory.getLogger(LibvirtMigration.class);

  // virDomainMigrateFlags, from libvirt-domain.h (libvirt-java 0.5.2 keeps them private).
  static final long LIVE = 1L;
  static final long PERSIST_DEST = 1L << 3;
  static final long UNDEFINE_SOURCE = 1L << 4;
  static final long NON_SHARED_DISK = 1L << 6;
  static final long UNSAFE = 1L << 9;
  static final long ABORT_ON_ERROR = 1L << 12;
  static final long AUTO_CONVERGE = 1L << 13;
  static final long POSTCOPY = 1L << 15;

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

  /** Starts the migration on a thread of its own and returns at once. */
  static LibvirtMigration start(
      Host source,
      LibvirtConnection sourceConnection,
      Domain domain,
      Host target,
      LibvirtConnection targetConnection,
      String uid,
      MigrationOptions options) {
    LibvirtMigration job = new LibvirtMigration(source, target, uid, domain, sourceConnection, targetConnection);
    ScheduledFuture<?> polling =
        job.poller.scheduleWithFixedDelay(job::poll, 0, PROGRESS_PERIOD.toMillis(), TimeUnit.MILLISECONDS);
    Thread runner =
        new Thread(
            () -> {
              try {
                domain.migrate(
                    targetConnection, flags(options), null, migrationUri(target), options.bandwidthMiBps());
                job.poll();
                MigrationProgress last = job.progress.get();
                Map<String, Long> stats = job.completedStats();
                MigrationProgress done =
                    new MigrationProgress(
                        stats.getOrDefault("data_processed", last == null ? 0 : last.processedBytes()),
                        stats.getOrDefault("data_total", last == null ? 0 : last.totalBytes()),
                        0,
                        Duration.ofMillis(stats.getOrDefault("time_elapsed", 0L)));
                job.progress.set(done);
                job.completion.complete(
                    new MigrationResult(done, Optional.ofNullable(stats.get("downtime")).map(Duration::ofMillis)));
              } catch (LibvirtException e) {
                job.completion.completeExceptionally(
                    LibvirtErrors.translate(e, source, "live migration of " + uid + " to " + target));
              } catch (RuntimeException e) {
                job.completion.completeExceptionally(
                    new HypervisorException("MIGRATION_FAILED", "live migration of " + uid + " to " + target + " failed: " + e, e));
              } finally {
                polling.cancel(false);
                job.poller.shutdown();
              }
            },
            "migration-" + uid);
    runner.setDaemon(true);
    runner.start();
    log.info("live migration of {} from {} to {} started", uid, source, target);
    return job;
  }

  static long flags(MigrationOptions options) {
    long flags = LIVE | PERSIST_DEST | UNDEFINE_SOURCE | ABORT_ON_ERROR;
    // Shared storage that libvirt does not recognise as a cluster filesystem is declared safe
    // only because the StorageClass says every host sees it; otherwise the disks are copied.
    flags |= options.sharedStorage() ? UNSAFE : NON_SHARED_DISK;
    if (options.autoConverge()) {
      flags |= AUTO_CONVERGE;
    }
    if (options.postCopy()) {
      flags |= POSTCOPY;
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

  /**
   * The statistics of the completed job (downtime, bytes, time), which only the typed-parameter
   * call returns. Asked of the target: the source's copy is undefined by then, and the target keeps
   * the completed statistics of the incoming migration.
   */
  private Map<String, Long> completedStats() {
    Map<String, Long> stats = new HashMap<>();
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
