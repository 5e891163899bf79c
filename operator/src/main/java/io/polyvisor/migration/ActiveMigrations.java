package io.polyvisor.migration;

import io.polyvisor.driver.MigrationJob;
import io.polyvisor.driver.MigrationProgress;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The live migrations this operator process is running, by VirtualMachineMigration uid. Lost with
 * the process: after a restart the migration reconciler finds a Running migration with no job here
 * and decides from what the hosts hold (see {@link VirtualMachineMigrationReconciler}).
 */
public final class ActiveMigrations {

  /**
   * A running job and what its timeouts need: the lowest bytes remaining seen in the current phase
   * (a phase has its own total: disks first, then memory), and when that low was reached.
   */
  record Running(MigrationJob job, Instant started, long phaseTotalBytes, long lowestRemainingBytes, Instant lastProgressAt) {

    Running(MigrationJob job, Instant started) {
      this(job, started, -1, Long.MAX_VALUE, started);
    }

    /**
     * After the hypervisor's latest report: progress is a new low of the bytes remaining within a
     * phase, and a new total starts a new phase. Before the first report the clock does not run
     * (libvirt reports nothing while it mirrors disks); the completion timeout bounds that.
     */
    Running observe(Optional<MigrationProgress> report, Instant now) {
      if (report.isEmpty()) {
        return new Running(job, started, -1, Long.MAX_VALUE, now);
      }
      MigrationProgress p = report.get();
      return p.totalBytes() != phaseTotalBytes || p.remainingBytes() < lowestRemainingBytes
          ? new Running(job, started, p.totalBytes(), p.remainingBytes(), now)
          : this;
    }
  }

  private final Map<String, Running> jobs = new ConcurrentHashMap<>();

  Optional<Running> get(String migrationUid) {
    return Optional.ofNullable(jobs.get(migrationUid));
  }

  void put(String migrationUid, Running running) {
    jobs.put(migrationUid, running);
  }

  void remove(String migrationUid) {
    jobs.remove(migrationUid);
  }
}
