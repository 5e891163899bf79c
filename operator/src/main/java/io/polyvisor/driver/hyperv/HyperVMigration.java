package io.polyvisor.driver.hyperv;

import com.fasterxml.jackson.databind.JsonNode;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.driver.LogContext;
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
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A live migration run by the source host's management service. Move-VM starts it and waits for
 * it; the host's Msvm_MigrationJob shows its progress and outcome, and it goes on without the
 * command (an operator that dies, or a WinRM connection that breaks, does not stop it), so it is
 * followed through that job whenever the command is no longer there to report. The outcome is
 * read from the hosts: success only once the guest runs on the target. Hyper-V gives a
 * percentage only: the bytes reported are that share of the guest's memory.
 */
final class HyperVMigration implements MigrationJob {

  private static final Logger log = LoggerFactory.getLogger(HyperVMigration.class);
  /**
   * How often the host's job is read. Each read starts a powershell.exe on the source host (a
   * process, a WinRM shell and a CIM query: hundreds of milliseconds of the host's CPU), so it is
   * read no more often than the migration controller needs progress for its timeouts; Hyper-V
   * gives whole percents only, and Move-VM's return tells the end at once.
   */
  static final Duration POLL = Duration.ofSeconds(2);
  /** Move-VM may run for hours; the migration controller's own timeouts abort it sooner. */
  private static final Duration COMMAND_DEADLINE = Duration.ofHours(24);
  // CIM_ConcreteJob.JobState
  private static final int NEW = 2;
  private static final int SHUTTING_DOWN = 6;
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
  /** Whether the end is read from the host's job (the command is gone) rather than from the command. */
  private volatile boolean following;
  /** Asked to abort; the host's jobs are cancelled once (when there is none yet, as soon as it shows). */
  private volatile boolean abortRequested;
  private volatile boolean cancelSent;

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
      String script, ExecutorService commands) {
    HyperVMigration migration = new HyperVMigration(driver, source, target, uid, vmId, estimatedBytes);
    migration.earlierJobs = migration.jobs().stream().map(j -> j.path("InstanceID").asText()).collect(Collectors.toSet());
    migration.poller = driver.timer().scheduleWithFixedDelay(LogContext.carrying((Runnable) migration::poll), 0, POLL.toMillis(),
        TimeUnit.MILLISECONDS);
    commands.submit(LogContext.carrying((Runnable) () -> migration.runCommand(script)));
    return migration;
  }

  /** A migration job of the guest that still runs on the source, followed again (after an operator restart). */
  static Optional<HyperVMigration> reattach(HyperVDriver driver, Host source, Host target, String uid, String vmId,
      long estimatedBytes) {
    HyperVMigration migration = new HyperVMigration(driver, source, target, uid, vmId, estimatedBytes);
    Optional<JsonNode> running = migration.jobs().stream().filter(j -> isUnderWay(j.path("JobState").asInt())).findFirst();
    if (running.isEmpty()) {
      return Optional.empty();
    }
    migration.jobId = running.get().path("InstanceID").asText();
    migration.follow();
    return Optional.of(migration);
  }

  private void runCommand(String script) {
    try {
      driver.run(source, script, "live-migrate guest " + uid + " to " + target.nodeName(), COMMAND_DEADLINE);
    } catch (HypervisorException e) {
      if ("POWERSHELL".equals(e.code()) || "NO_GUEST".equals(e.code())) {
        fail(e); // Move-VM itself reported the failure
      } else if ("INTERRUPTED".equals(e.code())) {
        stopPolling(); // the driver is closing (the operator stops): the next leader follows the host's job
      } else {
        log.info("lost the Move-VM command of {} ({}); following the host's migration job", uid, e.getMessage());
        follow();
      }
      return;
    } catch (RuntimeException e) {
      log.warn("the Move-VM command of {} failed unexpectedly; following the host's migration job", uid, e);
      follow();
      return;
    }
    settle("Move-VM returned");
  }

  /** The command is lost, not the migration: follow the host's job (and the hosts) to its end. */
  private void follow() {
    following = true;
    stopPolling();
    poller = driver.timer().scheduleWithFixedDelay(LogContext.carrying((Runnable) () -> {
      poll();
      endWithTheJob();
    }), 0, POLL.toMillis(), TimeUnit.MILLISECONDS);
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
        if (abortRequested && !cancelSent && isUnderWay(job.path("JobState").asInt())) {
          try {
            cancel(); // the abort came before Move-VM had made its job
          } catch (HypervisorException e) {
            log.warn("{}", e.getMessage());
          }
        }
      });
    } catch (RuntimeException e) {
      // A scheduled task that throws is never run again: report, and try at the next poll.
      log.debug("could not read the migration job of {}: {}", uid, e.getMessage());
    }
  }

  /**
   * Ends this migration when the followed job has ended. The host removes finished jobs after a
   * while (TimeBeforeRemoval, 5 minutes by default), so a job that is gone is judged by where the
   * guest runs.
   */
  private void endWithTheJob() {
    if (completion.isDone()) {
      return;
    }
    try {
      Optional<JsonNode> job = ourJob();
      int state = job.map(j -> j.path("JobState").asInt()).orElse(-1);
      if (job.isPresent() && isUnderWay(state)) {
        return;
      }
      if (job.isPresent() && state != COMPLETED) {
        fail(new HypervisorException("MIGRATION_FAILED", "live migration of guest " + uid + " from " + source.nodeName()
            + " to " + target.nodeName() + " failed: " + job.get().path("ErrorDescription").asText("job state " + state)));
        return;
      }
      settle(job.isPresent() ? "the host's migration job completed" : "the host's migration job is gone");
    } catch (RuntimeException e) {
      log.debug("could not read the migration job of {}: {}", uid, e.getMessage());
    }
  }

  /** New, Starting, Running, Suspended, Shutting Down: the job may still finish. */
  private static boolean isUnderWay(int jobState) {
    return jobState >= NEW && jobState <= SHUTTING_DOWN;
  }

  /** Decides the outcome from where the guest runs: the target only counts once the guest runs there. */
  private void settle(String how) {
    try {
      if (driver.find(target, uid).map(g -> g.state().isActive()).orElse(false)) {
        succeed();
        return;
      }
      boolean onSource = driver.find(source, uid).isPresent();
      fail(new HypervisorException("MIGRATION_FAILED", how + ", but guest " + uid + " does not run on " + target.nodeName()
          + (onSource ? "; it stays on " + source.nodeName() : "")));
    } catch (RuntimeException e) {
      log.info("cannot tell where guest {} runs yet ({}); asking again", uid, e.getMessage());
      if (!following) {
        follow();
      }
    }
  }

  private void succeed() {
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

  /**
   * Cancels the guest's migration job in whichever state it is until it has ended. Until Move-VM
   * has made the job (powershell.exe starting, the hosts negotiating) there is none to cancel: it
   * is cancelled as soon as the poll sees it.
   *
   * @throws HypervisorException {@code ABORT_REFUSED} when the host refuses, with its code
   */
  @Override
  public void abort() {
    abortRequested = true;
    cancel();
  }

  private synchronized void cancel() {
    if (cancelSent || completion.isDone()) {
      return;
    }
    List<JsonNode> answers = driver.objects(driver.run(source, HyperVScripts.CANCEL_MIGRATION.with(Map.of("id", vmId)),
        "cancel the migration of guest " + uid));
    if (answers.isEmpty()) {
      log.info("no migration job of {} on {} to cancel yet; it is cancelled once it shows", uid, source.nodeName());
      return;
    }
    cancelSent = true;
    for (JsonNode answer : answers) {
      long code = answer.path("ReturnValue").asLong(-1);
      if (!CimReturnCodes.accepted(code)) {
        throw new HypervisorException("ABORT_REFUSED", source.nodeName() + " refused to cancel the live migration of guest "
            + uid + ": Msvm_MigrationJob.RequestStateChange returned " + code + " (" + CimReturnCodes.describe(code) + ")");
      }
    }
  }
}
