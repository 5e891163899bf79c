package io.polyvisor.driver.hyperv;

import com.fasterxml.jackson.databind.JsonNode;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.driver.MigrationJob;
import io.polyvisor.driver.MigrationProgress;
import io.polyvisor.driver.MigrationResult;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A live migration run by the source host's management service. Move-VM starts it and waits for
 * it; the host's Msvm_MigrationJob shows its progress and outcome, and it goes on without the
 * command (an operator that dies, or a WinRM connection that breaks, does not stop it), so it is
 * followed through that job whenever the command is no longer there to report. Hyper-V gives a
 * percentage only: the bytes reported are that share of the guest's memory, plus its disks when
 * they move.
 */
final class HyperVMigration implements MigrationJob {

  private static final Logger log = LoggerFactory.getLogger(HyperVMigration.class);
  private static final Duration POLL = Duration.ofMillis(500);
  /** Move-VM may run for hours; the migration controller's own timeouts abort it sooner. */
  private static final Duration COMMAND_DEADLINE = Duration.ofHours(24);
  // CIM_ConcreteJob.JobState
  private static final int NEW = 2;
  private static final int STARTING = 3;
  private static final int RUNNING = 4;
  private static final int COMPLETED = 7;

  private final HyperVDriver driver;
  private final Host source;
  private final Host target;
  private final String uid;
  private final String vmId;
  private final long estimatedBytes;
  private final Instant started = Instant.now();
  private final CompletableFuture<MigrationResult> completion = new CompletableFuture<>();
  private volatile Set<String> earlierJobs = Set.of();
  private volatile String jobId;
  private volatile MigrationProgress latest;
  private volatile ScheduledFuture<?> poller;

  private HyperVMigration(HyperVDriver driver, Host source, Host target, String uid, String vmId, long estimatedBytes) {
    this.driver = driver;
    this.source = source;
    this.target = target;
    this.uid = uid;
    this.vmId = vmId;
    this.estimatedBytes = Math.max(1, estimatedBytes);
  }

  /** Runs Move-VM in the background and watches its job until it ends. */
  static HyperVMigration start(HyperVDriver driver, Host source, Host target, String uid, String vmId, long estimatedBytes,
      String script, ExecutorService commands, ScheduledExecutorService timer) {
    HyperVMigration migration = new HyperVMigration(driver, source, target, uid, vmId, estimatedBytes);
    migration.earlierJobs = migration.jobs().stream().map(j -> j.path("InstanceID").asText()).collect(Collectors.toSet());
    migration.poller = timer.scheduleWithFixedDelay(migration::poll, 0, POLL.toMillis(), TimeUnit.MILLISECONDS);
    commands.submit(() -> migration.runCommand(script));
    return migration;
  }

  /** A migration job of the guest that still runs on the source, followed again (after an operator restart). */
  static Optional<HyperVMigration> reattach(HyperVDriver driver, Host source, Host target, String uid, String vmId,
      long estimatedBytes, ScheduledExecutorService timer) {
    HyperVMigration migration = new HyperVMigration(driver, source, target, uid, vmId, estimatedBytes);
    Optional<JsonNode> running = migration.jobs().stream().filter(j -> isRunning(j.path("JobState").asInt())).findFirst();
    if (running.isEmpty()) {
      return Optional.empty();
    }
    migration.jobId = running.get().path("InstanceID").asText();
    migration.poller = timer.scheduleWithFixedDelay(() -> {
      migration.poll();
      migration.endWithTheJob();
    }, 0, POLL.toMillis(), TimeUnit.MILLISECONDS);
    return Optional.of(migration);
  }

  private void runCommand(String script) {
    try {
      driver.run(source, script, "live-migrate guest " + uid + " to " + target.nodeName(), COMMAND_DEADLINE);
      succeed();
    } catch (HypervisorException e) {
      if ("POWERSHELL".equals(e.code()) || "NO_GUEST".equals(e.code())) {
        fail(e); // Move-VM itself reported the failure
      } else if ("INTERRUPTED".equals(e.code())) {
        // The driver is closing (the operator stops): the next leader follows the host's job.
        stopPolling();
      } else {
        // The command is lost, not the migration: follow the host's job to its end.
        log.info("lost the Move-VM command of {} ({}); following the host's migration job", uid, e.getMessage());
        stopPolling();
        poller = driver.timer().scheduleWithFixedDelay(() -> {
          poll();
          endWithTheJob();
        }, 0, POLL.toMillis(), TimeUnit.MILLISECONDS);
      }
    } catch (RuntimeException e) {
      fail(new HypervisorException("MIGRATION_FAILED", "live migration of " + uid + " failed: " + e, e));
    }
  }

  private List<JsonNode> jobs() {
    return driver.objects(driver.run(source, HyperVScripts.MIGRATION_JOBS.with(Map.of("id", vmId)),
        "read the migration jobs of guest " + uid));
  }

  private Optional<JsonNode> ourJob() {
    return jobs().stream()
        .filter(j -> jobId == null ? !earlierJobs.contains(j.path("InstanceID").asText()) : jobId.equals(j.path("InstanceID").asText()))
        .findFirst();
  }

  private void poll() {
    if (completion.isDone()) {
      stopPolling();
      return;
    }
    try {
      ourJob().ifPresent(job -> {
        jobId = job.path("InstanceID").asText();
        long done = estimatedBytes * job.path("PercentComplete").asInt() / 100;
        latest = new MigrationProgress(done, estimatedBytes, estimatedBytes - done, Duration.between(started, Instant.now()));
      });
    } catch (HypervisorException e) {
      log.debug("could not read the migration job of {}: {}", uid, e.getMessage());
    }
  }

  /** Ends this migration when the followed job has ended. */
  private void endWithTheJob() {
    if (completion.isDone()) {
      return;
    }
    try {
      Optional<JsonNode> job = ourJob();
      if (job.isEmpty()) {
        fail(new HypervisorException("MIGRATION_LOST", "the migration job of guest " + uid + " is gone from "
            + source.nodeName() + " without a result"));
        return;
      }
      int state = job.get().path("JobState").asInt();
      if (state == COMPLETED) {
        succeed();
      } else if (!isRunning(state)) {
        fail(new HypervisorException("MIGRATION_FAILED", "live migration of guest " + uid + " from " + source.nodeName()
            + " to " + target.nodeName() + " failed: " + job.get().path("ErrorDescription").asText("job state " + state)));
      }
    } catch (HypervisorException e) {
      log.debug("could not read the migration job of {}: {}", uid, e.getMessage());
    }
  }

  private static boolean isRunning(int jobState) {
    return jobState == NEW || jobState == STARTING || jobState == RUNNING;
  }

  private void succeed() {
    boolean arrived = driver.find(target, uid).map(g -> g.state().isActive()).orElse(false);
    if (!arrived) {
      fail(new HypervisorException("MIGRATION_FAILED", "Move-VM of guest " + uid + " returned, but the guest does not run on "
          + target.nodeName()));
      return;
    }
    MigrationProgress last = new MigrationProgress(estimatedBytes, estimatedBytes, 0, Duration.between(started, Instant.now()));
    latest = last;
    completion.complete(new MigrationResult(last, Optional.empty()));
    stopPolling();
  }

  private void fail(HypervisorException e) {
    completion.completeExceptionally(e);
    stopPolling();
  }

  private void stopPolling() {
    ScheduledFuture<?> current = poller;
    if (current != null) {
      current.cancel(false);
    }
  }

  @Override
  public CompletableFuture<MigrationResult> completion() {
    return completion;
  }

  @Override
  public Optional<MigrationProgress> progress() {
    return Optional.ofNullable(latest);
  }

  @Override
  public void switchToPostCopy() {
    throw new HypervisorException("NOT_SUPPORTED", "Hyper-V has no post-copy live migration");
  }

  @Override
  public void abort() {
    driver.run(source, HyperVScripts.CANCEL_MIGRATION.with(Map.of("id", vmId)), "cancel the migration of guest " + uid);
  }
}
