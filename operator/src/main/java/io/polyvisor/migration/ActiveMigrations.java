package io.polyvisor.migration;

import io.polyvisor.driver.MigrationJob;
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

  /** A running job and what its timeouts need. */
  record Running(MigrationJob job, Instant started, long lastRemainingBytes, Instant lastProgressAt) {}

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
