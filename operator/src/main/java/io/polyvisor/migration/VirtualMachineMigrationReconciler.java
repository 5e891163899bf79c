package io.polyvisor.migration;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.MigrationMethod;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.MigrationPolicy;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachineMigrationStatus;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.cluster.ClusterState;
import io.polyvisor.cluster.HypervisorNode;
import io.polyvisor.driver.Drivers;
import io.polyvisor.status.StatusPatch;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.HypervisorDriver;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.driver.MigrationJob;
import io.polyvisor.driver.MigrationOptions;
import io.polyvisor.driver.MigrationProgress;
import io.polyvisor.driver.MigrationResult;
import io.polyvisor.vm.DiskPlan;
import io.polyvisor.vm.EventRecorder;
import io.polyvisor.vm.MemoryRequest;
import io.polyvisor.vm.Placement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * Owns a VirtualMachineMigration from Pending to its end. The transfer itself is the
 * hypervisor's (libvirt keeps the target copy paused until the source stops, and kills it if the
 * transfer fails), so at no instant do two copies run; this controller chooses the target, starts
 * and watches the transfer, enforces the class's timeouts and records the outcome. The VM's own
 * reconciler keeps its hands off a VM while one of its migrations is not final, and afterwards finds
 * the guest wherever it then runs.
 *
 * <p>Decisions after an operator crash. A migration's phase says how far the previous leader got;
 * what the hosts hold says what happened. The in-memory job is gone, and with it libvirt's client
 * side of the transfer, which libvirt then cancels (the target copy is destroyed with the
 * connection that prepared it, the source resumes).
 *
 * <table>
 *   <tr><th>phase</th><th>source</th><th>target</th><th>decision</th><th>tested by (MigrationIT unless named)</th></tr>
 *   <tr><td>Pending</td><td>any</td><td>any</td><td>nothing was started: validate and schedule as new</td><td>manualMigrationGoesToTheNamedNode</td></tr>
 *   <tr><td>Scheduling</td><td>running</td><td>absent</td><td>the transfer was not started: start it</td><td>operatorKilledBeforeTheTransferStarted...</td></tr>
 *   <tr><td>Scheduling/Running</td><td>running</td><td>present, not running</td><td>remove the target's leftover copy; Failed, the guest stays on the source</td><td>aLeftoverCopyOnTheTargetIsRemoved...</td></tr>
 *   <tr><td>Running</td><td>running</td><td>absent</td><td>the hypervisor still runs the transfer (Hyper-V's management service carries Move-VM on): follow it again to its end</td><td>HyperVReconcilerIT.aTransferTheHostCarriesOnAfterAnOperatorRestart...; HyperVDriverTest.aTransferThatOutlivesTheDriver...</td></tr>
 *   <tr><td>Running</td><td>running</td><td>absent</td><td>no transfer left (libvirt cancels one whose client died): Failed, the guest stays on the source</td><td>operatorKilledDuringTheTransfer...</td></tr>
 *   <tr><td>Running</td><td>absent or shut off</td><td>running</td><td>the switch-over happened: undefine any source leftover; Succeeded</td><td>operatorKilledJustAfterTheSwitchOver...</td></tr>
 *   <tr><td>Running</td><td>running</td><td>running</td><td>cannot happen with libvirt's protocol; the target copy is destroyed, never the source: Failed</td><td>not reproducible</td></tr>
 *   <tr><td>Running</td><td>absent</td><td>absent</td><td>Failed: the guest is on neither host; the VM reconciler takes over per runStrategy</td><td>aGuestFoundOnNeitherHostAfterACrash...</td></tr>
 *   <tr><td>Running, post-copy</td><td>paused</td><td>paused</td><td>memory split between the hosts: touch neither copy; Failed, asking for libvirt's post-copy recovery</td><td>not yet</td></tr>
 *   <tr><td>final</td><td>any</td><td>any</td><td>nothing to do</td><td>every restart above: the finished migrations of earlier tests stay as they are</td></tr>
 * </table>
 *
 * <p>A migration with method Restart runs as a {@link RestartMove}, which reads both hosts at each
 * run; after a crash in Running it is simply run again (its own table says what each state leads
 * to). In Pending and Scheduling it is decided like a live one.
 */
public final class VirtualMachineMigrationReconciler implements Reconciler<VirtualMachineMigration> {

  private static final Logger log = LoggerFactory.getLogger(VirtualMachineMigrationReconciler.class);
  private static final Duration POLL = Duration.ofSeconds(1);
  private static final Duration POST_COPY_POLL = Duration.ofMillis(200);
  private static final String ABORTING = "aborting: ";
  private static final String WAITING_FOR_POST_COPY = "switching to post-copy as soon as the hypervisor allows it";
  /** Finished migrations kept per VM; older ones are deleted. */
  static final int HISTORY = 5;

  private final Drivers drivers;
  private final ActiveMigrations active;
  private final Clock clock;
  private final KubernetesClient client;
  private final ClusterState cluster;
  private final EventRecorder events;
  private final Duration shutdownGrace;

  /** @param shutdownGrace how long a Restart migration waits for the guest to shut down before forcing it off */
  public VirtualMachineMigrationReconciler(
      Drivers drivers, ActiveMigrations active, Clock clock, KubernetesClient client, ClusterState cluster, Duration shutdownGrace) {
    this.shutdownGrace = shutdownGrace;
    this.drivers = drivers;
    this.active = active;
    this.clock = clock;
    this.client = client;
    this.cluster = cluster;
    this.events = new EventRecorder(client);
  }

  @Override
  public UpdateControl<VirtualMachineMigration> reconcile(VirtualMachineMigration migration, Context<VirtualMachineMigration> context) {
    MDC.put("resource", migration.getMetadata().getNamespace() + "/" + migration.getMetadata().getName());
    try {
      // Decide on the stored object, not the cache: a pass woken by our own status patch may see
      // the cache before that patch, and must not redo (or undo) a step already recorded.
      VirtualMachineMigration stored = client.resource(migration).get();
      if (stored == null) {
        return UpdateControl.noUpdate();
      }
      Step step = new Step(stored);
      Optional<Duration> again = step.run();
      return step.finish(again);
    } finally {
      MDC.remove("resource");
    }
  }

  /** One pass over one migration. */
  private final class Step {
    private final VirtualMachineMigration migration;
    private final VirtualMachineMigrationStatus status;
    private final String before;
    private final Instant now = clock.instant();

    Step(VirtualMachineMigration migration) {
      this.migration = migration;
      VirtualMachineMigrationStatus current =
          migration.getStatus() == null ? new VirtualMachineMigrationStatus() : migration.getStatus();
      this.before = Serialization.asJson(current);
      this.status = Serialization.clone(current);
    }

    Optional<Duration> run() {
      MigrationPhase phase = status.phase == null ? MigrationPhase.Pending : status.phase;
      if (phase.isFinal()) {
        return Optional.empty();
      }
      VirtualMachine vm =
          client.resources(VirtualMachine.class).inNamespace(migration.getMetadata().getNamespace()).withName(migration.getSpec().vmName).get();
      if (vm == null) {
        return end(MigrationPhase.Failed, "VirtualMachine " + migration.getSpec().vmName + " does not exist");
      }
      Optional<String> cancel = cancelReason();
      try {
        return switch (phase) {
          case Pending -> cancel.isPresent() ? end(MigrationPhase.Aborted, "cancelled before it started: " + cancel.get()) : schedule(vm);
          case Scheduling -> cancel.isPresent() ? end(MigrationPhase.Aborted, "cancelled before the transfer: " + cancel.get()) : startTransfer(vm);
          case Running -> watch(vm, cancel);
          default -> Optional.empty();
        };
      } catch (HypervisorException e) {
        log.warn("migration step failed: {}", e.getMessage());
        status.message = e.getMessage();
        return Optional.of(Duration.ofSeconds(5));
      }
    }

    /** Pending: check the request, choose the target, record both ends. */
    private Optional<Duration> schedule(VirtualMachine vm) {
      Optional<VirtualMachineMigration> other = otherActiveMigration(vm);
      if (other.isPresent()) {
        return end(MigrationPhase.Failed, "VirtualMachine " + vm.getMetadata().getName() + " is already being migrated by "
            + other.get().getMetadata().getName() + "; one migration at a time");
      }
      HypervisorClass hvc = cluster.hypervisorClass(vm.getSpec().hypervisorClassName).orElse(null);
      if (hvc == null) {
        return end(MigrationPhase.Failed, "HypervisorClass " + vm.getSpec().hypervisorClassName + " does not exist");
      }
      List<HypervisorNode> nodes = cluster.nodesOf(hvc);
      String target = migration.getSpec().targetNode;
      if (target != null) {
        if (cluster.node(target).isEmpty()) {
          return end(MigrationPhase.Failed, "spec.targetNode " + target + " does not exist");
        }
        if (nodes.stream().noneMatch(n -> n.name().equals(target))) {
          return end(MigrationPhase.Failed, "spec.targetNode " + target + " does not serve HypervisorClass " + hvc.getMetadata().getName()
              + "; a VM only migrates between nodes of its own class (never across hypervisors)");
        }
      }
      if (vm.getStatus() == null || vm.getStatus().phase != VirtualMachinePhase.Running || vm.getStatus().nodeName == null) {
        return end(MigrationPhase.Failed, "VirtualMachine " + vm.getMetadata().getName() + " is not running (phase "
            + (vm.getStatus() == null ? "none" : vm.getStatus().phase) + "); only a running VM can be live-migrated");
      }
      String source = vm.getStatus().nodeName;
      Placement.Decision decision;
      if (target != null) {
        if (target.equals(source)) {
          return end(MigrationPhase.Failed, "spec.targetNode " + target + " is the node the VM already runs on");
        }
        List<HypervisorNode> named = nodes.stream().filter(n -> n.name().equals(target)).toList();
        decision = Placement.place(vm, hvc, named, reserved(vm), Set.of(source));
      } else {
        decision = Placement.place(vm, hvc, nodes, reserved(vm), Set.of(source));
      }
      if (decision instanceof Placement.Unschedulable u) {
        return end(MigrationPhase.Failed, "no target for the migration: " + u.message());
      }
      HypervisorNode chosen = ((Placement.Placed) decision).node();
      status.phase = MigrationPhase.Scheduling;
      status.sourceNode = source;
      status.targetNode = chosen.name();
      status.message = "moving from " + source + " to " + chosen.name();
      events.normal(migration, "Scheduled", status.message);
      return Optional.of(Duration.ofMillis(1));
    }

    /** Scheduling: both ends recorded; start the transfer. */
    private Optional<Duration> startTransfer(VirtualMachine vm) {
      Ends ctx = context(vm);
      Optional<GuestInfo> onTarget = ctx.driver.find(ctx.target.host(), uid(vm));
      if (onTarget.isPresent()) {
        cleanTarget(ctx, onTarget.get());
        return end(MigrationPhase.Failed, "found a leftover copy on " + ctx.target.name() + " from an interrupted attempt and removed it;"
            + " the guest stays on " + ctx.source.name());
      }
      Optional<GuestInfo> onSource = ctx.driver.find(ctx.source.host(), uid(vm));
      if (onSource.isEmpty() || onSource.get().state() != GuestState.RUNNING) {
        return end(MigrationPhase.Failed, "the guest is not running on " + ctx.source.name());
      }
      MigrationJob job = restart() ? startRestartMove(vm, ctx) : ctx.driver.migrate(ctx.source.host(), ctx.target.host(), uid(vm), options(vm, ctx.hvc));
      active.put(migration.getMetadata().getUid(), new ActiveMigrations.Running(job, now));
      status.phase = MigrationPhase.Running;
      status.startTime = timestamp(now);
      status.progressPercent = 0;
      status.message = restart()
          ? "shutting the guest down on " + ctx.source.name() + " to start it on " + ctx.target.name()
          : "transferring from " + ctx.source.name() + " to " + ctx.target.name();
      events.normal(migration, "Started", status.message);
      events.normal(vm, "MigrationStarted", (restart() ? "restart migration " : "live migration ") + migration.getMetadata().getName()
          + " to " + ctx.target.name() + " started");
      return Optional.of(POLL);
    }

    private boolean restart() {
      return migration.getSpec().method == MigrationMethod.Restart;
    }

    private RestartMove startRestartMove(VirtualMachine vm, Ends ctx) {
      List<DiskPlan> disks = disks(vm, ctx.hvc);
      boolean shared = disks.stream().allMatch(d -> d.pool().shared());
      List<RestartMove.SourceVolume> volumes = disks.stream().filter(d -> !d.pool().shared())
          .map(d -> new RestartMove.SourceVolume(d.pool(), d.volumeName())).toList();
      return RestartMove.start(ctx.driver, ctx.source.host(), ctx.target.host(), uid(vm), shared, volumes, shutdownGrace);
    }

    /** Running: report progress, enforce timeouts, record the outcome. */
    private Optional<Duration> watch(VirtualMachine vm, Optional<String> cancel) {
      Optional<ActiveMigrations.Running> running = active.get(migration.getMetadata().getUid());
      if (running.isEmpty()) {
        return recover(vm);
      }
      var job = running.get().job();
      if (!job.completion().isDone()) {
        if (!aborting() && !Boolean.TRUE.equals(status.postCopy)) {
          // A Restart move has no transfer to time out: once the guest is down, finishing it is
          // the quickest way back to a running guest.
          Optional<Timeout> exceeded = restart() ? Optional.empty() : timeout(vm, running.get());
          if (cancel.isPresent()) {
            abort(job, "cancelled: " + cancel.get());
          } else if (exceeded.isPresent() && exceeded.get().postCopyInstead() && postCopyAllowed(vm)) {
            switchToPostCopy(vm, job, exceeded.get().reason());
          } else {
            exceeded.ifPresent(t -> abort(job, t.reason()));
          }
        }
        job.progress().ifPresent(this::progress);
        // Waiting for the moment post-copy can start: look more often, the window may be short.
        return Optional.of(waitingForPostCopy() ? POST_COPY_POLL : POLL);
      }
      active.remove(migration.getMetadata().getUid());
      Ends ctx = context(vm);
      try {
        MigrationResult result = job.completion().get();
        progress(result.finalProgress());
        status.progressPercent = 100;
        result.downtime().ifPresent(d -> status.downtimeMillis = d.toMillis());
        events.normal(vm, "Migrated", (restart() ? "shut down on " + ctx.source.name() + " and restarted on " : "live-migrated from "
            + ctx.source.name() + " to ") + ctx.target.name());
        return end(MigrationPhase.Succeeded, (restart() ? "the guest was restarted on " : "the guest runs on ") + ctx.target.name()
            + result.downtime().map(d -> " after " + d.toMillis() + " ms of downtime").orElse(""));
      } catch (ExecutionException e) {
        String why = aborting() ? status.message.substring(ABORTING.length()) : e.getCause().getMessage();
        if (Boolean.TRUE.equals(status.postCopy)) {
          return postCopyBroke(ctx, why);
        }
        boolean cancelled = cancel.isPresent();
        if (restart()) {
          events.warning(vm, "MigrationFailed", "restart migration to " + ctx.target.name() + " failed: " + why);
          return end(cancelled ? MigrationPhase.Aborted : MigrationPhase.Failed, why);
        }
        events.warning(vm, "MigrationFailed", "live migration to " + ctx.target.name() + " failed; the guest stays on " + ctx.source.name());
        return end(cancelled ? MigrationPhase.Aborted : MigrationPhase.Failed,
            why + "; the guest keeps running on " + ctx.source.name());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return Optional.of(POLL);
      }
    }

    /** Running with no job in this process: the previous leader died mid-transfer (see the class table). */
    private Optional<Duration> recover(VirtualMachine vm) {
      Ends ctx = context(vm);
      if (restart()) {
        // A Restart move resumes from what the hosts hold (see RestartMove).
        log.info("resuming the restart move after an operator restart");
        active.put(migration.getMetadata().getUid(), new ActiveMigrations.Running(startRestartMove(vm, ctx), now));
        return Optional.of(POLL);
      }
      Optional<MigrationJob> stillRunning = ctx.driver.reattach(ctx.source.host(), ctx.target.host(), uid(vm));
      if (stillRunning.isPresent()) {
        log.info("the hypervisor still runs the transfer after an operator restart; following it again");
        active.put(migration.getMetadata().getUid(), new ActiveMigrations.Running(stillRunning.get(), now));
        return Optional.of(POLL);
      }
      Optional<GuestInfo> onSource = ctx.driver.find(ctx.source.host(), uid(vm));
      Optional<GuestInfo> onTarget = ctx.driver.find(ctx.target.host(), uid(vm));
      boolean sourceRuns = onSource.map(g -> g.state().isActive()).orElse(false);
      boolean targetRuns = onTarget.map(g -> g.state() == GuestState.RUNNING).orElse(false);
      log.info("recovering after a restart: source {} {}, target {} {}", ctx.source.name(), onSource.map(GuestInfo::state),
          ctx.target.name(), onTarget.map(GuestInfo::state));
      if (!sourceRuns && targetRuns) {
        onSource.ifPresent(g -> ctx.driver.undefine(ctx.source.host(), uid(vm)));
        status.progressPercent = 100;
        events.normal(vm, "Migrated", "live-migrated from " + ctx.source.name() + " to " + ctx.target.name());
        return end(MigrationPhase.Succeeded, "the guest runs on " + ctx.target.name() + " (switch-over completed before an operator restart)");
      }
      if (Boolean.TRUE.equals(status.postCopy)) {
        return postCopyBroke(ctx, "the operator restarted during the post-copy phase");
      }
      if (sourceRuns) {
        onTarget.ifPresent(g -> cleanTarget(ctx, g));
        return end(MigrationPhase.Failed, "the operator restarted during the transfer, which libvirt then cancelled;"
            + " the guest keeps running on " + ctx.source.name());
      }
      return end(MigrationPhase.Failed, "the guest runs on neither " + ctx.source.name() + " nor " + ctx.target.name()
          + "; the VirtualMachine's runStrategy decides what happens next");
    }

    /**
     * A post-copy transfer that did not finish: the guest's memory is split between the hosts, so
     * neither copy is complete and neither may be destroyed or restarted by us. libvirt keeps both
     * paused until someone recovers the migration by hand.
     */
    private Optional<Duration> postCopyBroke(Ends ctx, String why) {
      events.warning(migration, "PostCopyFailed", why);
      return end(MigrationPhase.Failed, why + "; the migration had switched to post-copy, so the guest's memory is split between "
          + ctx.source.name() + " and " + ctx.target.name() + " and libvirt keeps it paused on both: recover it with"
          + " `virsh migrate --postcopy-resume` before anything else touches it");
    }

    /** Removes a copy on the target that is not the running guest (never the source's). */
    private void cleanTarget(Ends ctx, GuestInfo copy) {
      String uid = copy.id().uid();
      ctx.driver.forceStop(ctx.target.host(), uid);
      ctx.driver.undefine(ctx.target.host(), uid);
      log.info("removed the leftover copy of {} on {}", uid, ctx.target.name());
    }

    private void abort(MigrationJob job, String reason) {
      status.message = ABORTING + reason;
      job.abort();
      events.warning(migration, "Aborting", reason);
    }

    private boolean aborting() {
      return status.message != null && status.message.startsWith(ABORTING);
    }

    /**
     * Pre-copy outran its completion timeout and the class allows post-copy: finish by post-copy
     * rather than abort. The hypervisor refuses until the memory transfer has begun (disks are
     * mirrored first); until then this is tried again at every poll, and the progress timeout
     * still aborts a transfer that is stuck.
     */
    private void switchToPostCopy(VirtualMachine vm, MigrationJob job, String reason) {
      try {
        job.switchToPostCopy();
      } catch (HypervisorException e) {
        if ("NOT_SUPPORTED".equals(e.code())) {
          abort(job, reason + " (and " + e.getMessage() + ")");
          return;
        }
        String waiting = WAITING_FOR_POST_COPY + " (" + reason + "): " + e.getMessage();
        if (!waiting.equals(status.message)) {
          log.info("{}", waiting);
        }
        status.message = waiting;
        return;
      }
      status.postCopy = true;
      status.message = "switched to post-copy: " + reason + "; the guest runs on " + status.targetNode
          + " and fetches the rest of its memory from " + status.sourceNode;
      events.normal(migration, "PostCopy", status.message);
      events.normal(vm, "MigrationPostCopy", "live migration " + migration.getMetadata().getName() + " switched to post-copy");
    }

    private boolean waitingForPostCopy() {
      return status.message != null && status.message.startsWith(WAITING_FOR_POST_COPY);
    }

    private boolean postCopyAllowed(VirtualMachine vm) {
      MigrationPolicy policy = context(vm).hvc.getSpec().migration;
      return policy != null && Boolean.TRUE.equals(policy.allowPostCopy);
    }

    /** A limit the transfer went past; only running out of time may be answered with post-copy. */
    private record Timeout(String reason, boolean postCopyInstead) {}

    private Optional<Timeout> timeout(VirtualMachine vm, ActiveMigrations.Running running) {
      MigrationPolicy policy = context(vm).hvc.getSpec().migration;
      long perGiB = policy == null || policy.completionTimeoutPerGiBSeconds == null ? 150 : policy.completionTimeoutPerGiBSeconds;
      long progressTimeout = policy == null || policy.progressTimeoutSeconds == null ? 150 : policy.progressTimeoutSeconds;
      ActiveMigrations.Running updated = running.observe(running.job().progress(), now);
      active.put(migration.getMetadata().getUid(), updated);
      if (Duration.between(updated.lastProgressAt(), now).toSeconds() > progressTimeout) {
        // No progress means the link or the target is stuck: post-copy over it would risk the guest.
        return Optional.of(new Timeout("no progress for " + progressTimeout + " s (progressTimeoutSeconds)", false));
      }
      double gib = Math.max(1.0, MemoryRequest.maximum(vm.getSpec().memory) / (double) (1L << 30));
      Duration budget = Duration.ofSeconds((long) Math.ceil(perGiB * gib));
      if (Duration.between(running.started(), now).compareTo(budget) > 0) {
        return Optional.of(new Timeout("the transfer exceeded its completion timeout of " + budget.toSeconds() + " s (" + perGiB + " s per GiB)", true));
      }
      return Optional.empty();
    }

    private void progress(MigrationProgress progress) {
      status.progressPercent = progress.percent();
      status.dataProcessedBytes = progress.processedBytes();
      status.dataTotalBytes = progress.totalBytes();
    }

    private Optional<Duration> end(MigrationPhase phase, String message) {
      status.phase = phase;
      status.message = message;
      status.completionTime = timestamp(now);
      if (phase == MigrationPhase.Succeeded) {
        events.normal(migration, "Succeeded", message);
      } else {
        events.warning(migration, phase.name(), message);
      }
      pruneHistory();
      return Optional.empty();
    }

    private Optional<String> cancelReason() {
      Map<String, String> annotations = migration.getMetadata().getAnnotations();
      return annotations == null ? Optional.empty() : Optional.ofNullable(annotations.get(MigrationLabels.CANCEL));
    }

    private Optional<VirtualMachineMigration> otherActiveMigration(VirtualMachine vm) {
      return migrationsOf(vm.getMetadata().getNamespace(), vm.getMetadata().getName()).stream()
          .filter(m -> !m.getMetadata().getUid().equals(migration.getMetadata().getUid()))
          .filter(m -> m.getStatus() != null && m.getStatus().phase != null && !m.getStatus().phase.isFinal()
              && m.getStatus().phase != MigrationPhase.Pending)
          .findFirst();
    }

    private Map<String, Long> reserved(VirtualMachine moving) {
      return MemoryRequest.reservedByNode(cluster.virtualMachines(), moving.getMetadata().getUid());
    }

    private void pruneHistory() {
      List<VirtualMachineMigration> finished =
          migrationsOf(migration.getMetadata().getNamespace(), migration.getSpec().vmName).stream()
              .filter(m -> !m.getMetadata().getUid().equals(migration.getMetadata().getUid()))
              .filter(m -> m.getStatus() != null && m.getStatus().phase != null && m.getStatus().phase.isFinal())
              // Newest finish first: completion time has whole seconds, the resourceVersion of
              // the final status write breaks ties in the order the writes happened.
              .sorted(Comparator.comparing((VirtualMachineMigration m) -> m.getStatus().completionTime == null ? "" : m.getStatus().completionTime)
                  .thenComparingLong(m -> Long.parseLong(m.getMetadata().getResourceVersion()))
                  .reversed())
              .toList();
      // This one is final too: keep it and the HISTORY - 1 newest others.
      finished.stream().skip(HISTORY - 1).forEach(old -> client.resource(old).delete());
    }

    UpdateControl<VirtualMachineMigration> finish(Optional<Duration> again) {
      return StatusPatch.ifChanged(migration, status, before, VirtualMachineMigration::new, again);
    }


    /** The class, driver and both ends of a scheduled migration. */
    private Ends context(VirtualMachine vm) {
      HypervisorClass hvc = cluster.hypervisorClass(vm.getSpec().hypervisorClassName)
          .orElseThrow(() -> new HypervisorException("NO_CLASS", "HypervisorClass " + vm.getSpec().hypervisorClassName + " is gone"));
      HypervisorDriver driver = drivers.get(hvc.getSpec().driver)
          .orElseThrow(() -> new HypervisorException("NO_DRIVER", "no " + hvc.getSpec().driver + " driver"));
      List<HypervisorNode> nodes = cluster.nodesOf(hvc);
      return new Ends(hvc, driver, node(nodes, status.sourceNode), node(nodes, status.targetNode));
    }

    private HypervisorNode node(List<HypervisorNode> nodes, String name) {
      return nodes.stream().filter(n -> n.name().equals(name)).findFirst()
          .orElseThrow(() -> new HypervisorException("NO_NODE", "node " + name + " no longer serves the VM's class"));
    }
  }

  private record Ends(HypervisorClass hvc, HypervisorDriver driver, HypervisorNode source, HypervisorNode target) {}

  private List<DiskPlan> disks(VirtualMachine vm, HypervisorClass hvc) {
    try {
      return DiskPlan.resolve(vm, hvc.getSpec().driver, cluster::storageClass);
    } catch (DiskPlan.InvalidStorage e) {
      throw new HypervisorException("INVALID_STORAGE", e.getMessage());
    }
  }

  private MigrationOptions options(VirtualMachine vm, HypervisorClass hvc) {
    MigrationPolicy policy = hvc.getSpec().migration == null ? new MigrationPolicy() : hvc.getSpec().migration;
    boolean shared = disks(vm, hvc).stream().allMatch(d -> d.pool().shared());
    return new MigrationOptions(
        shared,
        policy.bandwidthMiBps == null ? 0 : policy.bandwidthMiBps,
        Boolean.TRUE.equals(policy.allowAutoConverge),
        Boolean.TRUE.equals(policy.allowPostCopy));
  }

  private List<VirtualMachineMigration> migrationsOf(String namespace, String vmName) {
    return client.resources(VirtualMachineMigration.class).inNamespace(namespace).list().getItems().stream()
        .filter(m -> vmName.equals(m.getSpec().vmName))
        .toList();
  }

  private static String uid(VirtualMachine vm) {
    return vm.getMetadata().getUid();
  }

  static String timestamp(Instant instant) {
    return DateTimeFormatter.ISO_INSTANT.format(instant.truncatedTo(ChronoUnit.SECONDS));
  }
}
