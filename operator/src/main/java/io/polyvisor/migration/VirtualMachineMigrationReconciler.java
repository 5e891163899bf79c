package io.polyvisor.migration;

import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.inbound.SimpleInboundEventSource;
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
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HostUnreachableException;
import io.polyvisor.driver.HypervisorDriver;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.driver.MigrationJob;
import io.polyvisor.driver.MigrationMark;
import io.polyvisor.driver.MigrationOptions;
import io.polyvisor.driver.libvirt.LibvirtCredentials;
import io.polyvisor.driver.MigrationProgress;
import io.polyvisor.driver.MigrationResult;
import io.polyvisor.migration.MoveResolution.Action;
import io.polyvisor.migration.MoveResolution.Decision;
import io.polyvisor.migration.MoveResolution.Outcome;
import io.polyvisor.migration.MoveResolution.Reading;
import io.polyvisor.lease.LeaseGuard;
import io.polyvisor.status.StatusPatch;
import io.polyvisor.vm.DiskPlan;
import io.polyvisor.vm.EventRecorder;
import io.polyvisor.planner.MemoryRequest;
import io.polyvisor.planner.Commitments;
import io.polyvisor.planner.CpuModels;
import io.polyvisor.planner.Placement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import java.util.ArrayList;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * Owns a VirtualMachineMigration from Pending to its end. The transfer itself is the
 * hypervisor's, run by the source host (libvirt's peer-to-peer migration, Hyper-V's Move-VM), so
 * it goes on whatever happens to this process; this controller claims the VM, chooses the target,
 * starts and watches the transfer, enforces the class's timeouts and records the outcome. The VM's
 * own reconciler keeps its hands off a VM while one of its migrations is not final, and afterwards
 * finds the guest wherever it then runs.
 *
 * <p>The rule before every destructive or starting call: both hosts are read, and the call is made
 * only when what they hold proves it safe ({@link MoveResolution}, whose table says what each pair
 * of copies leads to). What the hypervisor reported of the transfer is a hint; a host that cannot be
 * read means waiting, with the host named in the status and an Event. The phase says only how far
 * this controller got:
 *
 * <table>
 *   <tr><th>phase</th><th>hosts</th><th>decision</th><th>tested by (MigrationIT unless named)</th></tr>
 *   <tr><td>Pending</td><td>not read</td><td>claim the VM (an annotation written with optimistic concurrency: one
 *       migration wins, the other fails naming it), bind to its uid, choose the target</td>
 *       <td>manualMigrationGoesToTheNamedNode; twoMigrationsCreatedAtOnceOnlyOneMovesTheVm</td></tr>
 *   <tr><td>Scheduling</td><td>source running, target absent</td><td>start the transfer</td>
 *       <td>operatorKilledBeforeTheTransferStarted...</td></tr>
 *   <tr><td>Scheduling</td><td>a job on the source</td><td>the start was not recorded: follow the job, Running</td>
 *       <td>aTransferWhoseStartWasNotRecordedIsFollowedNotUndone</td></tr>
 *   <tr><td>Scheduling</td><td>anything else</td><td>as MoveResolution says (a target copy that never ran is removed,
 *       a running one is the migrated guest)</td><td>aLeftoverCopyOnTheTargetIsRemoved...; aTransferWhoseStartWasNotRecordedIsFollowedNotUndone</td></tr>
 *   <tr><td>Running, job here</td><td>job ended</td><td>as MoveResolution says</td><td>every live migration</td></tr>
 *   <tr><td>Running, no job here</td><td>a job on the source</td><td>the previous leader's transfer: follow it to its end</td>
 *       <td>operatorKilledDuringTheTransferIsFollowedToItsEndByTheNextLeader; HyperVReconcilerIT.aTransferTheHostCarriesOn...</td></tr>
 *   <tr><td>Running, no job here</td><td>no job</td><td>as MoveResolution says</td>
 *       <td>operatorKilledJustAfterTheSwitchOver...; aGuestFoundOnNeitherHostAfterACrash...; aSourceLeftPausedAfterTheSwitchOverIsRemoved</td></tr>
 *   <tr><td>any, being deleted</td><td>any</td><td>as cancelled; the finalizer goes once no host step is in progress</td>
 *       <td>deletingARestartMigrationDuringItsDiskCopyNeverStartsTheSource</td></tr>
 *   <tr><td>final</td><td>any</td><td>nothing to do</td><td>every restart above</td></tr>
 * </table>
 *
 * <p>A migration with method Restart runs as a {@link RestartMove}, which reads both hosts at each
 * run; after a crash in Running it is simply run again (its own table says what each state leads
 * to).
 */
public final class VirtualMachineMigrationReconciler implements Reconciler<VirtualMachineMigration>, Cleaner<VirtualMachineMigration> {

  private static final Logger log = LoggerFactory.getLogger(VirtualMachineMigrationReconciler.class);
  private static final Duration POLL = Duration.ofSeconds(1);
  private static final Duration POST_COPY_POLL = Duration.ofMillis(200);
  private static final Duration HOST_RETRY = Duration.ofSeconds(5);
  /**
   * How long a Restart move whose host does not answer is tried again before it ends Failed (and
   * the guest is started where it is, by its run strategy).
   */
  static final Duration RESTART_MOVE_PATIENCE = Duration.ofMinutes(5);
  private static final String ABORTING = "aborting: ";
  private static final String WAITING_FOR_POST_COPY = "switching to post-copy as soon as the hypervisor allows it";
  private static final String DELETED = "the VirtualMachineMigration was deleted";
  /** Finished migrations kept per VM; older ones are deleted. */
  static final int HISTORY = 5;
  /**
   * How long the hosts must keep showing what a settling decision answers ({@link Decision#settles})
   * before it is carried out. A host that has just come back can list for a moment what it then
   * clears up: libvirtd, restarted during an incoming migration, lists the half-received guest as
   * paused until its reconnect kills it. Holding the VM on that one reading would strand it;
   * reading again a little later costs only the wait, since nothing is touched meanwhile either way.
   */
  static final Duration SETTLE = Duration.ofSeconds(10);
  private static final Duration SETTLE_REREAD = Duration.ofSeconds(3);
  /** Readings further apart than this are not "in a row": passes that did not decide came between. */
  private static final Duration SETTLE_GAP = SETTLE_REREAD.multipliedBy(2);

  private final Drivers drivers;
  private final ActiveMigrations active;
  private final Clock clock;
  private final KubernetesClient client;
  private final ClusterState cluster;
  private final EventRecorder events;
  private final Duration shutdownGrace;
  private final LeaseGuard lease;
  /**
   * Wakes a migration the moment its host job ends, instead of at its next poll: the next move of
   * an evacuation waits for this one's end to be recorded, so a poll period per move would add up.
   */
  private final SimpleInboundEventSource<VirtualMachineMigration> jobEnded = new SimpleInboundEventSource<>("migration-job-ended");
  /** What settling decision the hosts of a migration (by uid) were first read to call for, and when, since they last did not. */
  private final Map<String, Settling> settling = new java.util.concurrent.ConcurrentHashMap<>();

  private record Settling(Outcome outcome, List<Action> actions, Instant since, Instant lastSeen) {}

  /**
   * @param shutdownGrace how long a Restart migration waits for the guest to shut down before forcing it off
   * @param lease checked before a new phase is recorded: a deposed leader must not end a move the new one runs
   */
  public VirtualMachineMigrationReconciler(
      Drivers drivers, ActiveMigrations active, Clock clock, KubernetesClient client, ClusterState cluster, Duration shutdownGrace,
      LeaseGuard lease) {
    this.shutdownGrace = shutdownGrace;
    this.lease = lease;
    this.drivers = drivers;
    this.active = active;
    this.clock = clock;
    this.client = client;
    this.cluster = cluster;
    this.events = new EventRecorder(client);
  }

  @Override
  public List<EventSource<?, VirtualMachineMigration>> prepareEventSources(EventSourceContext<VirtualMachineMigration> context) {
    return List.of(jobEnded);
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
      Step step = new Step(stored, Optional.empty());
      Optional<Duration> again = step.run();
      return step.finish(again);
    } finally {
      MDC.remove("resource");
    }
  }

  /**
   * A migration deleted before its end is cancelled like one annotated so, and its finalizer stays
   * until no host step of it is in progress: the VM reconciler takes its hands off a VM only when
   * the migration object is gone, and must not start a guest that a move is still copying.
   */
  @Override
  public DeleteControl cleanup(VirtualMachineMigration migration, Context<VirtualMachineMigration> context) {
    MDC.put("resource", migration.getMetadata().getNamespace() + "/" + migration.getMetadata().getName());
    try {
      VirtualMachineMigration stored = client.resource(migration).get();
      if (stored == null) {
        settling.remove(migration.getMetadata().getUid());
        return DeleteControl.defaultDelete();
      }
      Step step = new Step(stored, Optional.of(DELETED));
      Optional<Duration> again = step.run();
      step.writeStatus();
      if (step.isFinal()) {
        return DeleteControl.defaultDelete();
      }
      return DeleteControl.noFinalizerRemoval().rescheduleAfter(again.orElse(POLL).toMillis());
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
    private final Optional<String> deleted;
    private String vmUid;

    Step(VirtualMachineMigration migration, Optional<String> deleted) {
      this.migration = migration;
      this.deleted = deleted;
      VirtualMachineMigrationStatus current =
          migration.getStatus() == null ? new VirtualMachineMigrationStatus() : migration.getStatus();
      this.before = Serialization.asJson(current);
      this.status = Serialization.clone(current);
    }

    boolean isFinal() {
      return status.phase != null && status.phase.isFinal();
    }

    Optional<Duration> run() {
      MigrationPhase phase = status.phase == null ? MigrationPhase.Pending : status.phase;
      if (phase.isFinal()) {
        // The end is stored: only now may another migration claim the VM.
        VmClaim.release(client, migration);
        return Optional.empty();
      }
      VirtualMachine vm =
          client.resources(VirtualMachine.class).inNamespace(migration.getMetadata().getNamespace()).withName(migration.getSpec().vmName).get();
      Optional<String> boundTo = boundUid();
      if (vm == null || (boundTo.isPresent() && !boundTo.get().equals(uid(vm)))) {
        if (phase != MigrationPhase.Pending || active.get(migrationUid()).isPresent()) {
          // The VM that this migration moves is gone (its removal waits for active migrations, so
          // only a forced removal gets here); what the hosts hold is for the VM reconciler to find.
          active.get(migrationUid()).ifPresent(r -> r.job().abort());
          active.remove(migrationUid());
        }
        return end(MigrationPhase.Failed, vm == null
            ? "VirtualMachine " + migration.getSpec().vmName + " does not exist"
            : "VirtualMachine " + migration.getSpec().vmName + " was deleted and created again since this migration was made for it"
                + " (uid " + boundTo.get() + ", now " + uid(vm) + "); it does not act on the new one");
      }
      vmUid = uid(vm);
      if (boundTo.isEmpty()) {
        bind(vm);
      }
      Optional<String> cancel = deleted.or(this::cancelReason);
      try {
        if (active.get(migrationUid()).isPresent()) {
          return watch(vm, cancel);
        }
        return switch (phase) {
          case Pending -> cancel.isPresent() ? end(MigrationPhase.Aborted, "cancelled before it started: " + cancel.get()) : schedule(vm);
          case Scheduling -> startTransfer(vm, cancel);
          case Running -> recover(vm, cancel);
          default -> Optional.empty();
        };
      } catch (HypervisorException e) {
        log.warn("migration step failed: {}", e.getMessage());
        status.message = e.getMessage();
        return Optional.of(HOST_RETRY);
      }
    }

    /** Keeps the job of this migration, and has its end wake the migration. */
    private void track(MigrationJob job) {
      active.put(migrationUid(), new ActiveMigrations.Running(job, now));
      settling.remove(migrationUid()); // a job under way: what was read before it proves nothing now
      ResourceID id = ResourceID.fromResource(migration);
      job.completion().whenComplete((result, failure) -> jobEnded.propagateEvent(id));
    }

    /**
     * Ties the migration to this VM by its uid (a label) and makes the VM its owner, so that a VM
     * deleted and created again under the same name is never moved by an old migration, and that
     * the garbage collector removes a VM's migrations with it.
     */
    private void bind(VirtualMachine vm) {
      client.resource(migration).edit(m -> {
        Map<String, String> labels = new HashMap<>(m.getMetadata().getLabels() == null ? Map.of() : m.getMetadata().getLabels());
        labels.put(MigrationLabels.VM_UID, uid(vm));
        labels.putIfAbsent(MigrationLabels.VM, truncate(vm.getMetadata().getName(), 63));
        m.getMetadata().setLabels(labels);
        if (m.getMetadata().getOwnerReferences() == null) {
          m.getMetadata().setOwnerReferences(new java.util.ArrayList<>());
        }
        if (m.getMetadata().getOwnerReferences().stream().noneMatch(o -> uid(vm).equals(o.getUid()))) {
          m.getMetadata().getOwnerReferences().add(new OwnerReferenceBuilder().withApiVersion(vm.getApiVersion()).withKind(vm.getKind())
              .withName(vm.getMetadata().getName()).withUid(uid(vm)).build());
        }
        return m;
      });
    }

    /** Pending: claim the VM, check the request, choose the target, record both ends. */
    private Optional<Duration> schedule(VirtualMachine vm) {
      HypervisorClass hvc = cluster.hypervisorClass(vm.getSpec().hypervisorClassName).orElse(null);
      if (hvc == null) {
        return end(MigrationPhase.Failed, "HypervisorClass " + vm.getSpec().hypervisorClassName + " does not exist");
      }
      // The claim first: a VM another migration holds looks "Migrating", which is not the reason to give.
      Claim claim = VmClaim.take(client, vm, migration);
      if (claim instanceof Claim.HeldBy other) {
        return end(MigrationPhase.Failed, "VirtualMachine " + vm.getMetadata().getName() + " is already being migrated by "
            + other.migration() + "; one migration at a time");
      }
      if (claim instanceof Claim.Contended) {
        return Optional.of(Duration.ofMillis(200)); // someone else wrote the VM meanwhile: read it again
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
      if (target != null && target.equals(source)) {
        return end(MigrationPhase.Failed, "spec.targetNode " + target + " is the node the VM already runs on");
      }
      // A node given up while declared down may still hold an older copy of this guest: it takes
      // the guest again only once the VM has removed what is left there.
      Set<String> abandoned = vm.getStatus().abandonedNodes == null ? Set.of() : Set.copyOf(vm.getStatus().abandonedNodes);
      if (target != null && abandoned.contains(target)) {
        return end(MigrationPhase.Failed, "spec.targetNode " + target + " still holds what was left of this VM when it was declared"
            + " out of service (status.abandonedNodes); it can take the VM once that is removed");
      }
      Set<String> excluded = new java.util.HashSet<>(abandoned);
      excluded.add(source);
      List<HypervisorNode> candidates = target == null ? nodes : nodes.stream().filter(n -> n.name().equals(target)).toList();
      // An evacuation's target is its planner's preference: when that node cannot take the VM
      // after all (its room was taken meanwhile, it cannot give the guest's CPU), another may.
      boolean preferenceOnly = target != null && migration.getMetadata().getLabels() != null
          && migration.getMetadata().getLabels().containsKey(MigrationLabels.EVACUATED_NODE);
      // A live move keeps the guest's CPU: a target that cannot give it that CPU is passed over.
      List<String> refused = new ArrayList<>();
      HypervisorNode chosen;
      while (true) {
        // A target a person named is checked against its hypervisor below, not against labels.
        Placement.Decision decision = Placement.place(vm, hvc, candidates, committed(vm), excluded,
            target != null && !preferenceOnly && !restart() ? Optional.empty()
                : CpuModels.required(vm, hvc, !restart()));
        if (decision instanceof Placement.Unschedulable u && preferenceOnly && candidates.size() < nodes.size()) {
          refused.add("the planned target " + target + ": " + u.message());
          excluded.add(target);
          candidates = nodes;
          continue;
        }
        if (decision instanceof Placement.Unschedulable u) {
          return end(MigrationPhase.Failed, "no target for the migration: " + u.message()
              + (refused.isEmpty() ? "" : "; " + String.join("; ", refused)));
        }
        chosen = ((Placement.Placed) decision).node();
        Optional<String> cannot = restart() ? Optional.empty() : cpuMismatch(hvc, source, chosen, vm);
        if (cannot.isEmpty()) {
          break;
        }
        refused.add(cannot.get());
        excluded.add(chosen.name());
      }
      status.phase = MigrationPhase.Scheduling;
      status.sourceNode = source;
      status.targetNode = chosen.name();
      status.message = "moving from " + source + " to " + chosen.name();
      events.normal(migration, "Scheduled", status.message);
      return Optional.of(Duration.ofMillis(1));
    }

    /**
     * Scheduling: both ends recorded. The transfer starts only from a running source and an empty
     * target; anything else means an earlier pass got further than its status says (the write
     * after a start can fail), and the hosts say how far.
     */
    private Optional<Duration> startTransfer(VirtualMachine vm, Optional<String> cancel) {
      Ends ends = context(vm);
      Reading onSource = read(ends, ends.source);
      Reading onTarget = read(ends, ends.target);
      if (restart()) {
        boolean untouched = onTarget instanceof Reading.Absent && onSource instanceof Reading.Copy c && c.state() == GuestState.RUNNING;
        if (cancel.isPresent() && untouched) {
          return end(MigrationPhase.Aborted, "cancelled before the transfer: " + cancel.get());
        }
        return runRestartMove(vm, ends, cancel);
      }
      if (follow(vm, ends, cancel)) {
        return Optional.of(POLL); // started by an earlier pass whose status write was lost
      }
      boolean ready = onSource instanceof Reading.Copy c && c.state() == GuestState.RUNNING && c.mark() == MigrationMark.NONE
          && onTarget instanceof Reading.Absent;
      if (ready) {
        if (cancel.isPresent()) {
          return end(MigrationPhase.Aborted, "cancelled before the transfer: " + cancel.get());
        }
        MigrationJob job = ends.driver.migrate(ends.source.host(), ends.target.host(), uid(vm), options(vm, ends));
        track(job);
        status.phase = MigrationPhase.Running;
        status.startTime = timestamp(now);
        status.progressPercent = 0;
        status.message = "transferring from " + ends.source.name() + " to " + ends.target.name();
        events.normal(migration, "Started", status.message);
        events.normal(vm, "MigrationStarted", "live migration " + migration.getMetadata().getName() + " to " + ends.target.name() + " started");
        return Optional.of(POLL);
      }
      if (onSource instanceof Reading.Absent && onTarget instanceof Reading.Absent) {
        return end(MigrationPhase.Failed, "the guest is not running on " + ends.source.name());
      }
      if (onSource instanceof Reading.Copy c && !c.state().isActive() && onTarget instanceof Reading.Absent) {
        return end(MigrationPhase.Failed, "the guest is not running on " + ends.source.name());
      }
      return resolve(vm, ends, onSource, onTarget, cancel, Optional.empty());
    }

    private Optional<String> cpuMismatch(HypervisorClass hvc, String source, HypervisorNode target, VirtualMachine vm) {
      HypervisorDriver driver = drivers.get(hvc.getSpec().driver)
          .orElseThrow(() -> new HypervisorException("NO_DRIVER", "no " + hvc.getSpec().driver + " driver"));
      try {
        return driver.whyTargetCannotRunIt(node(hvc, source).host(), target.host(), uid(vm));
      } catch (HypervisorException e) {
        // One node that cannot be asked does not hold up the others: it is passed over, and said.
        return Optional.of("cannot tell whether " + target.name() + " can run the guest's CPU: " + e.getMessage());
      }
    }

    private boolean restart() {
      return migration.getSpec().method == MigrationMethod.Restart;
    }

    /** Runs (or resumes, after a crash) a Restart move: it reads both hosts and carries on from there. */
    private Optional<Duration> runRestartMove(VirtualMachine vm, Ends ends, Optional<String> cancel) {
      List<DiskPlan> disks = disks(vm, ends.hvc);
      boolean shared = disks.stream().allMatch(d -> d.pool().shared());
      List<RestartMove.SourceVolume> volumes = disks.stream().filter(d -> !d.pool().shared())
          .map(d -> new RestartMove.SourceVolume(d.pool(), d.volumeName())).toList();
      RestartMove move = RestartMove.start(ends.driver, ends.source.host(), ends.target.host(), uid(vm), shared, volumes, shutdownGrace,
          cancel.isPresent());
      track(move);
      if (status.phase != MigrationPhase.Running) {
        status.phase = MigrationPhase.Running;
        status.startTime = timestamp(now);
        status.progressPercent = 0;
        status.message = "shutting the guest down on " + ends.source.name() + " to start it on " + ends.target.name();
        events.normal(migration, "Started", status.message);
        events.normal(vm, "MigrationStarted", "restart migration " + migration.getMetadata().getName() + " to " + ends.target.name() + " started");
      } else {
        log.info("resuming the restart move after an operator restart");
      }
      return Optional.of(POLL);
    }

    /** A job of this process: report progress, enforce timeouts, and once it has ended, read the hosts. */
    private Optional<Duration> watch(VirtualMachine vm, Optional<String> cancel) {
      ActiveMigrations.Running running = active.get(migrationUid()).orElseThrow();
      MigrationJob job = running.job();
      if (status.phase != MigrationPhase.Running) {
        // The write that recorded the start was lost: record it again.
        status.phase = MigrationPhase.Running;
        status.startTime = status.startTime == null ? timestamp(running.started()) : status.startTime;
      }
      if (!job.completion().isDone()) {
        if (!aborting() && !Boolean.TRUE.equals(status.postCopy)) {
          // A Restart move has no transfer to time out: once the guest is down, finishing it is
          // the quickest way back to a running guest.
          Optional<Timeout> exceeded = restart() ? Optional.empty() : timeout(vm, running);
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
      Ends ends = context(vm);
      if (restart()) {
        active.remove(migrationUid());
        return restartEnded(vm, ends, job, cancel);
      }
      Optional<MigrationResult> result = Optional.empty();
      String hint;
      try {
        result = Optional.of(job.completion().get());
        hint = "the hypervisor reported success";
      } catch (ExecutionException e) {
        hint = aborting() ? status.message.substring(ABORTING.length()) : e.getCause().getMessage();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return Optional.of(POLL);
      }
      result.ifPresent(r -> {
        progress(r.finalProgress());
        r.downtime().ifPresent(d -> status.downtimeMillis = d.toMillis());
      });
      Reading onSource = read(ends, ends.source);
      Reading onTarget = read(ends, ends.target);
      Decision decision = MoveResolution.decide(onSource, onTarget, targetHasRun(), ends.source.name(), ends.target.name());
      if (decision.outcome() == Outcome.WAIT && !(onSource instanceof Reading.Unreadable) && !(onTarget instanceof Reading.Unreadable)) {
        return Optional.of(Duration.ofMillis(200)); // the call returned, the job is still being wound up
      }
      active.remove(migrationUid());
      return resolve(vm, ends, onSource, onTarget, cancel, Optional.of(hint));
    }

    private Optional<Duration> restartEnded(VirtualMachine vm, Ends ends, MigrationJob job, Optional<String> cancel) {
      try {
        MigrationResult result = job.completion().get();
        progress(result.finalProgress());
        status.progressPercent = 100;
        result.downtime().ifPresent(d -> status.downtimeMillis = d.toMillis());
        events.normal(vm, "Migrated", "shut down on " + ends.source.name() + " and restarted on " + ends.target.name());
        return end(MigrationPhase.Succeeded, "the guest was restarted on " + ends.target.name()
            + result.downtime().map(d -> " after " + d.toMillis() + " ms of downtime").orElse(""));
      } catch (ExecutionException e) {
        String why = e.getCause().getMessage();
        Instant started = status.startTime == null ? now : Instant.parse(status.startTime);
        boolean declaredDown = ends.source.outOfService() || ends.target.outOfService();
        boolean hostSilent = e.getCause() instanceof HostUnreachableException;
        boolean leadUnproven = LeaseGuard.refused(e.getCause());
        if ((hostSilent || leadUnproven) && !declaredDown && Duration.between(started, now).compareTo(RESTART_MOVE_PATIENCE) < 0) {
          // A host of the move did not answer, or the Lease could not be read to prove this process
          // may act (an API server's passing error): nothing was done by the step that failed. The
          // guest may be down already, and the move is the way back to a running guest: it is run
          // again (it reads both hosts and carries on) until it can go on or the patience runs out.
          String message = (hostSilent ? "waiting for the hosts to finish the move: " : "waiting to prove this process leads"
              + " before it finishes the move: ") + why;
          if (!message.equals(status.message)) {
            events.warning(migration, hostSilent ? "HostUnreadable" : "LeaseUnreadable", message);
          }
          status.message = message;
          return Optional.of(HOST_RETRY);
        }
        events.warning(vm, "MigrationFailed", "restart migration to " + ends.target.name() + " failed: " + why);
        return end(cancel.isPresent() ? MigrationPhase.Aborted : MigrationPhase.Failed, why + removePartialCopy(vm, ends));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return Optional.of(POLL);
      }
    }

    /**
     * A Restart move that failed may have copied disks to the target before it stopped. They are
     * deleted only when both hosts, read now, prove them a partial copy: the target holds no copy
     * of the guest and the source does (so the source's disks are the guest's). Returns what was
     * done, for the migration's message.
     */
    private String removePartialCopy(VirtualMachine vm, Ends ends) {
      Reading onSource = read(ends, ends.source);
      Reading onTarget = read(ends, ends.target);
      String target = ends.target.name();
      // A source declared down is taken as holding the guest's only disks, whatever they are now:
      // what reached the target is a copy that no definition followed, and the VM starts afresh.
      if ((onSource instanceof Reading.Copy || declaredDown(ends.source, onSource)) && onTarget instanceof Reading.Absent) {
        try {
          deleteVolumes(vm, ends, ends.target.host());
          return (onSource instanceof Reading.Copy ? "; the guest stays on " + ends.source.name() + ", and" : "; the source is declared"
              + " out of service, and") + " what was copied of its disks to " + target + " was deleted";
        } catch (HypervisorException e) {
          return "; what was copied of its disks to " + target + " is left there: " + e.getMessage();
        }
      }
      String why = onTarget instanceof Reading.Unreadable u ? target + " cannot be read (" + u.why() + ")"
          : onTarget instanceof Reading.Copy ? target + " holds a copy of the guest"
          : onSource instanceof Reading.Unreadable u ? ends.source.name() + " cannot be read (" + u.why() + ")"
          : ends.source.name() + " holds no copy of the guest";
      return "; nothing was deleted on " + target + ": " + why;
    }

    /** Running with no job in this process: the previous leader's move (see the class table). */
    private Optional<Duration> recover(VirtualMachine vm, Optional<String> cancel) {
      Ends ends = context(vm);
      if (restart()) {
        return runRestartMove(vm, ends, cancel);
      }
      if (follow(vm, ends, cancel)) {
        return Optional.of(POLL);
      }
      Reading onSource = read(ends, ends.source);
      Reading onTarget = read(ends, ends.target);
      log.info("recovering: source {} {}, target {} {}", ends.source.name(), onSource, ends.target.name(), onTarget);
      return resolve(vm, ends, onSource, onTarget, cancel, Optional.empty());
    }

    /**
     * Follows the transfer that the source host still runs without a job of this process (the
     * previous leader's, or one whose start was not recorded). Hyper-V leaves no mark of a move on
     * the copies, so this is asked before the hosts are read.
     */
    private boolean follow(VirtualMachine vm, Ends ends, Optional<String> cancel) {
      Optional<MigrationJob> job;
      try {
        job = ends.driver.reattach(ends.source.host(), ends.target.host(), uid(vm));
      } catch (HypervisorException e) {
        return false; // the source does not answer: reading the hosts says so, and what to do
      }
      if (job.isEmpty()) {
        return false;
      }
      log.info("the hypervisor runs the transfer without a job of this process; following it");
      track(job.get());
      if (status.phase != MigrationPhase.Running) {
        status.phase = MigrationPhase.Running;
        status.startTime = timestamp(now);
      }
      status.message = "transferring from " + ends.source.name() + " to " + ends.target.name() + " (followed again)";
      cancel.ifPresent(c -> abort(job.get(), "cancelled: " + c));
      return true;
    }

    /** Decides from both hosts' copies and carries the decision out (see {@link MoveResolution}). */
    private Optional<Duration> resolve(VirtualMachine vm, Ends ends, Reading onSource, Reading onTarget, Optional<String> cancel,
        Optional<String> hint) {
      if (MoveResolution.targetRuns(onTarget) && !targetHasRun()) {
        Optional<Duration> unrecorded = rememberThatTheTargetRan(ends);
        if (unrecorded.isPresent()) {
          return unrecorded;
        }
      }
      Decision decision = MoveResolution.decide(onSource, onTarget, targetHasRun(), ends.source.name(), ends.target.name());
      if (!decision.settles()) {
        settling.remove(migrationUid());
      } else if (!settled(decision)) {
        status.message = (decision.outcome() == Outcome.PERSON ? "reading both hosts again before asking a person"
            : "reading both hosts again before acting") + ", touching neither: " + decision.reason();
        return Optional.of(SETTLE_REREAD);
      }
      switch (decision.outcome()) {
        case WAIT -> {
          boolean hostTrouble = onSource instanceof Reading.Unreadable || onTarget instanceof Reading.Unreadable;
          if (declaredDown(ends.source, onSource) || declaredDown(ends.target, onTarget)) {
            Optional<Optional<Duration>> givenUp = resolveWithoutDeclaredHosts(vm, ends, onSource, onTarget, cancel);
            if (givenUp.isPresent()) {
              return givenUp.get();
            }
          }
          if (hostTrouble) {
            String message = "waiting, touching neither host: " + decision.reason();
            if (!message.equals(status.message)) {
              events.warning(migration, "HostUnreadable", message);
            }
            status.message = message;
            return Optional.of(HOST_RETRY);
          }
          // A job without a job of this process: follow it, or, if it ended between the two
          // reads, read again.
          return Optional.of(follow(vm, ends, cancel) ? POLL : Duration.ofMillis(500));
        }
        case SUCCEEDED -> {
          carryOut(vm, ends, decision.actions());
          status.progressPercent = 100;
          events.normal(vm, "Migrated", "live-migrated from " + ends.source.name() + " to " + ends.target.name());
          return end(MigrationPhase.Succeeded, decision.reason()
              + (status.downtimeMillis == null || hint.isEmpty() ? "" : " after " + status.downtimeMillis + " ms of downtime"));
        }
        case FAILED -> {
          carryOut(vm, ends, decision.actions());
          boolean leftover = status.phase == MigrationPhase.Scheduling && decision.actions().contains(Action.REMOVE_TARGET_COPY);
          String why = leftover
              ? "found a leftover copy on " + ends.target.name() + " from an interrupted attempt and removed it; the guest stays on " + ends.source.name()
              : hint.map(h -> h + "; ").orElse(status.phase == MigrationPhase.Running ? "the transfer did not finish; " : "")
                  + decision.reason().replace("the guest runs on ", "the guest keeps running on ");
          events.warning(vm, "MigrationFailed", "live migration to " + ends.target.name() + " failed; the guest stays on " + ends.source.name());
          return end(cancel.isPresent() ? MigrationPhase.Aborted : MigrationPhase.Failed, why);
        }
        case LOST -> {
          return end(MigrationPhase.Failed, decision.reason() + "; the VirtualMachine's runStrategy decides what happens next");
        }
        default -> {
          // The hold first: once the migration is final, the VM's reconciler would act on the
          // copy it finds, which may be the older one.
          hold(decision.reason());
          events.warning(migration, Boolean.TRUE.equals(status.postCopy) ? "PostCopyFailed" : "NeedsAPerson", decision.reason());
          events.warning(vm, "MigrationNeedsAPerson", decision.reason() + "; the VM is held until a person removes the annotation "
              + MigrationLabels.HOLD + " from migration " + migration.getMetadata().getName());
          return end(MigrationPhase.Failed, decision.reason());
        }
      }
    }

    /**
     * Whether the hosts have called for this decision for {@link #SETTLE} in a row. Any other
     * decision in between, a wait included, starts the count again, as does a job followed
     * meanwhile, the move's end, or a gap between two readings (passes that decided nothing).
     */
    private boolean settled(Decision decision) {
      String key = migrationUid();
      Settling first = settling.compute(key, (k, seen) -> seen != null && seen.outcome() == decision.outcome()
          && seen.actions().equals(decision.actions()) && Duration.between(seen.lastSeen(), now).compareTo(SETTLE_GAP) <= 0
          ? new Settling(seen.outcome(), seen.actions(), seen.since(), now)
          : new Settling(decision.outcome(), decision.actions(), now, now));
      if (Duration.between(first.since(), now).compareTo(SETTLE) < 0) {
        return false;
      }
      settling.remove(key);
      return true;
    }

    /** Marks the migration {@link MigrationLabels#HOLD}: its VM is left alone until a person removes the mark. */
    private void hold(String reason) {
      if (migration.getMetadata().getAnnotations() != null && migration.getMetadata().getAnnotations().containsKey(MigrationLabels.HOLD)) {
        return;
      }
      lease.checkHeld("holding the VM of migration " + migration.getMetadata().getName());
      client.resource(migration).edit(m -> {
        Map<String, String> annotations = new java.util.HashMap<>(m.getMetadata().getAnnotations() == null ? Map.of() : m.getMetadata().getAnnotations());
        annotations.put(MigrationLabels.HOLD, reason);
        m.getMetadata().setAnnotations(annotations);
        return m;
      });
    }

    private boolean targetHasRun() {
      return Boolean.TRUE.equals(status.targetHasRun);
    }

    /**
     * Stores that the target ran the guest before any copy is paused or removed: a later pass
     * that finds the target stopped or gone must not take the source's older copy for the guest
     * (see {@link MoveResolution}). While the API server does not take it, nothing is done: a
     * copy paused or removed without that record could later be taken for the current one. (A
     * process that cannot write to the API server cannot prove it leads either.)
     */
    private Optional<Duration> rememberThatTheTargetRan(Ends ends) {
      status.targetHasRun = true;
      try {
        recordNow();
        return Optional.empty();
      } catch (KubernetesClientException | HypervisorException e) {
        status.targetHasRun = null;
        String why = "the guest runs on " + ends.target.name() + ", but that cannot be recorded yet (" + e.getMessage()
            + "); neither host is touched until it is";
        log.warn("{}", why);
        status.message = why;
        return Optional.of(HOST_RETRY);
      }
    }

    /** A host of the move that did not answer and that a person has declared down (taint {@link HypervisorNode#OUT_OF_SERVICE}). */
    private static boolean declaredDown(HypervisorNode node, Reading reading) {
      return node.outOfService() && reading instanceof Reading.Unreadable;
    }

    /**
     * Decides with each declared-down host taken as holding nothing, as the person declared it,
     * and carries out only what touches the host that answered. Empty when that still means
     * waiting: the other host does not answer either, or it shows the transfer under way (which
     * proves the declared host alive).
     */
    private Optional<Optional<Duration>> resolveWithoutDeclaredHosts(VirtualMachine vm, Ends ends, Reading onSource,
        Reading onTarget, Optional<String> cancel) {
      boolean sourceDown = declaredDown(ends.source, onSource);
      boolean targetDown = declaredDown(ends.target, onTarget);
      Reading source = sourceDown ? new Reading.Absent() : onSource;
      Reading target = targetDown ? new Reading.Absent() : onTarget;
      Decision decision = MoveResolution.decide(source, target, targetHasRun(), ends.source.name(), ends.target.name());
      if (decision.outcome() == Outcome.WAIT) {
        return Optional.empty();
      }
      List<Action> actions = new ArrayList<>(decision.actions().stream()
          .filter(a -> !(sourceDown && touchesSource(a)) && !(targetDown && touchesTarget(a))).toList());
      if (sourceDown && !targetDown && target instanceof Reading.Absent && !targetHasRun()) {
        // What the move had copied to the target is no guest's: the VM starts afresh elsewhere.
        actions.add(Action.DELETE_TARGET_VOLUMES);
      }
      String declared = String.join(" and ", Stream.of(sourceDown ? ends.source.name() : null, targetDown ? ends.target.name() : null)
          .filter(java.util.Objects::nonNull).toList());
      String why = "node " + declared + " is declared out of service (taint " + HypervisorNode.OUT_OF_SERVICE + ") and does not"
          + " answer, so it is taken as holding nothing and left untouched; " + decision.reason();
      if (decision.outcome() == Outcome.PERSON) {
        hold(why);
        events.warning(vm, "MigrationNeedsAPerson", why);
        return Optional.of(end(MigrationPhase.Failed, why));
      }
      carryOut(vm, ends, actions);
      boolean moved = decision.outcome() == Outcome.SUCCEEDED;
      if (moved) {
        events.normal(vm, "Migrated", why);
      } else {
        events.warning(vm, "MigrationFailed", why);
      }
      return Optional.of(end(moved ? MigrationPhase.Succeeded : cancel.isPresent() ? MigrationPhase.Aborted : MigrationPhase.Failed, why));
    }

    private static boolean touchesSource(Action action) {
      return switch (action) {
        case PAUSE_SOURCE, REMOVE_SOURCE_COPY, DELETE_SOURCE_VOLUMES, RESUME_SOURCE -> true;
        default -> false;
      };
    }

    private static boolean touchesTarget(Action action) {
      return switch (action) {
        case REMOVE_TARGET_COPY, DELETE_TARGET_VOLUMES, RESUME_TARGET -> true;
        default -> false;
      };
    }

    /** The decision's actions, in order; a failure leaves the rest for the next pass, which reads the hosts again. */
    private void carryOut(VirtualMachine vm, Ends ends, List<Action> actions) {
      String uid = uid(vm);
      for (Action action : actions) {
        log.info("{} for {}", action, uid);
        switch (action) {
          case PAUSE_SOURCE -> ends.driver.pause(ends.source.host(), uid);
          case REMOVE_SOURCE_COPY -> removeCopy(ends.driver, ends.source.host(), uid);
          case REMOVE_TARGET_COPY -> removeCopy(ends.driver, ends.target.host(), uid);
          case DELETE_SOURCE_VOLUMES -> deleteVolumes(vm, ends, ends.source.host());
          case DELETE_TARGET_VOLUMES -> deleteVolumes(vm, ends, ends.target.host());
          case RESUME_SOURCE -> ends.driver.resume(ends.source.host(), uid);
          case RESUME_TARGET -> ends.driver.resume(ends.target.host(), uid);
        }
      }
    }

    private void removeCopy(HypervisorDriver driver, Host host, String uid) {
      driver.forceStop(host, uid);
      driver.undefine(host, uid);
    }

    /**
     * The VM's local volumes on a host the guest has left, or never reached. A disk on shared
     * storage is the same file seen from every host: it is the guest's own, wherever it runs.
     */
    private void deleteVolumes(VirtualMachine vm, Ends ends, Host host) {
      for (DiskPlan disk : disks(vm, ends.hvc)) {
        if (!disk.pool().shared()) {
          ends.driver.deleteVolume(host, disk.pool(), disk.volumeName());
        }
      }
    }

    /** What the host holds of the guest; a host that does not answer is a reading too. */
    private Reading read(Ends ends, HypervisorNode node) {
      try {
        Optional<GuestInfo> guest = ends.driver.find(node.host(), vmUid);
        if (guest.isEmpty()) {
          return new Reading.Absent();
        }
        return new Reading.Copy(guest.get().state(), ends.driver.migrationMark(node.host(), guest.get().id().uid()));
      } catch (HypervisorException e) {
        return new Reading.Unreadable(e.getMessage());
      }
    }

    private void abort(MigrationJob job, String reason) {
      status.message = ABORTING + reason;
      events.warning(migration, "Aborting", reason);
      try {
        job.abort();
      } catch (HypervisorException e) {
        // The job may have ended meanwhile, or the host will not stop it: either way the hosts
        // say how it ended; a refusal is said where people look.
        log.info("abort: {}", e.getMessage());
        if ("ABORT_REFUSED".equals(e.code())) {
          status.message = ABORTING + reason + "; " + e.getMessage();
          events.warning(migration, "AbortRefused", e.getMessage());
        }
      }
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
        // Past it the move cannot be undone: only the leader may take that step.
        lease.checkHeld("switching migration " + migration.getMetadata().getName() + " to post-copy");
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
      active.put(migrationUid(), updated);
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
      settling.remove(migrationUid());
      MigrationMetrics.ended(migration, status, phase, now);
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

    private Optional<String> boundUid() {
      Map<String, String> labels = migration.getMetadata().getLabels();
      return labels == null ? Optional.empty() : Optional.ofNullable(labels.get(MigrationLabels.VM_UID));
    }

    private String migrationUid() {
      return migration.getMetadata().getUid();
    }

    /** What is promised on each node, leaving out the VM that moves (and so this migration's own target). */
    private Commitments committed(VirtualMachine moving) {
      return Commitments.of(cluster.virtualMachines(), cluster.migrations(), moving.getMetadata().getUid());
    }

    private void pruneHistory() {
      List<VirtualMachineMigration> finished =
          migrationsOf(migration.getMetadata().getNamespace(), migration.getSpec().vmName).stream()
              .filter(m -> !m.getMetadata().getUid().equals(migration.getMetadata().getUid()))
              .filter(m -> m.getStatus() != null && m.getStatus().phase != null && m.getStatus().phase.isFinal())
              .filter(m -> !VmMigrations.held(m)) // a person has yet to look at it
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
      // Leadership is proven (a read of the Lease) only for a write: a pass that changed nothing,
      // every second of a move, costs the API server nothing.
      if (!Serialization.asJson(status).equals(before) && !mayRecord()) {
        // Look again soon: a move whose job has ended has no job left to wake it, and waiting for
        // the resync could outlast a restart move's patience.
        return UpdateControl.<VirtualMachineMigration>noUpdate().rescheduleAfter(again.orElse(HOST_RETRY).toMillis());
      }
      return StatusPatch.ifChanged(migration, status, before, VirtualMachineMigration::new, again);
    }

    /**
     * Status is written only by the leader: a deposed one's pass read the status before the new
     * leader moved it on, and writing it back whole would set the move back.
     */
    private boolean mayRecord() {
      try {
        lease.checkHeld("recording the status of migration " + migration.getMetadata().getName());
        return true;
      } catch (HypervisorException e) {
        log.warn("{}", e.getMessage());
        return false;
      }
    }

    /** For a migration being deleted, whose cleanup cannot return a status update. */
    void writeStatus() {
      if (!Serialization.asJson(status).equals(before) && mayRecord()) {
        try {
          patchStatus();
        } catch (KubernetesClientException e) {
          log.warn("cannot record the status of a migration being deleted: {}", e.getMessage());
        }
      }
    }

    /** Writes the status now, mid-pass, or throws: for a fact that must be stored before the hosts are touched. */
    private void recordNow() {
      lease.checkHeld("recording the status of migration " + migration.getMetadata().getName());
      patchStatus();
    }

    private void patchStatus() {
      VirtualMachineMigration patch = new VirtualMachineMigration();
      patch.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName(migration.getMetadata().getName())
          .withNamespace(migration.getMetadata().getNamespace()).build());
      patch.setStatus(status);
      client.resource(patch).subresource("status").patch(
          io.fabric8.kubernetes.client.dsl.base.PatchContext.of(io.fabric8.kubernetes.client.dsl.base.PatchType.JSON_MERGE),
          Serialization.asJson(Map.of("status", status)));
    }

    /** The class, driver and both ends of a scheduled migration. */
    private Ends context(VirtualMachine vm) {
      HypervisorClass hvc = cluster.hypervisorClass(vm.getSpec().hypervisorClassName)
          .orElseThrow(() -> new HypervisorException("NO_CLASS", "HypervisorClass " + vm.getSpec().hypervisorClassName + " is gone"));
      HypervisorDriver driver = drivers.get(hvc.getSpec().driver)
          .orElseThrow(() -> new HypervisorException("NO_DRIVER", "no " + hvc.getSpec().driver + " driver"));
      return new Ends(hvc, driver, node(hvc, status.sourceNode), node(hvc, status.targetNode));
    }

    /**
     * A node of the move as a host to reach, even if it no longer serves the class (a node relabelled
     * mid-move still holds what it held): only a Node that is gone cannot be reached.
     */
    private HypervisorNode node(HypervisorClass hvc, String name) {
      return cluster.node(name).map(n -> HypervisorNode.of(n, hvc))
          .orElseThrow(() -> new HypervisorException("NO_NODE", "node " + name + " of this migration no longer exists,"
              + " so what it holds cannot be read; nothing is touched until it is back"));
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

  private MigrationOptions options(VirtualMachine vm, Ends ends) {
    HypervisorClass hvc = ends.hvc();
    MigrationPolicy policy = hvc.getSpec().migration == null ? new MigrationPolicy() : hvc.getSpec().migration;
    // By default over TLS when either host is reached over TLS (a Node's annotation may differ from the class's template).
    boolean tlsEndpoints = LibvirtCredentials.isTls(ends.source().host().endpoint()) || LibvirtCredentials.isTls(ends.target().host().endpoint());
    boolean shared = disks(vm, hvc).stream().allMatch(d -> d.pool().shared());
    return new MigrationOptions(
        shared,
        policy.bandwidthMiBps == null ? 0 : policy.bandwidthMiBps,
        Boolean.TRUE.equals(policy.allowAutoConverge),
        Boolean.TRUE.equals(policy.allowPostCopy),
        policy.tls != null ? policy.tls : tlsEndpoints);
  }

  private List<VirtualMachineMigration> migrationsOf(String namespace, String vmName) {
    return client.resources(VirtualMachineMigration.class).inNamespace(namespace).list().getItems().stream()
        .filter(m -> vmName.equals(m.getSpec().vmName))
        .toList();
  }

  private static String uid(VirtualMachine vm) {
    return vm.getMetadata().getUid();
  }

  static String truncate(String s, int max) {
    return s.length() <= max ? s : s.substring(0, max);
  }

  static String timestamp(Instant instant) {
    return DateTimeFormatter.ISO_INSTANT.format(instant.truncatedTo(ChronoUnit.SECONDS));
  }
}
