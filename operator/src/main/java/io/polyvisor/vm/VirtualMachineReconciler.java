package io.polyvisor.vm;

import io.polyvisor.planner.Bytes;
import io.polyvisor.planner.MemoryRequest;
import io.polyvisor.planner.Commitments;
import io.polyvisor.planner.Demand;
import io.polyvisor.planner.Placement;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.MemoryStatus;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.MigrationSummary;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.RunStrategy;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.api.v1alpha1.VirtualMachineStatus;
import io.polyvisor.cluster.ClusterState;
import io.polyvisor.cluster.ClusterView;
import io.polyvisor.cluster.HypervisorNode;
import io.polyvisor.cluster.LiveClusterState;
import io.polyvisor.vm.GuestCensus.Located;
import io.polyvisor.drain.DrainGuard;
import io.polyvisor.drain.PlaceholderPods;
import io.polyvisor.driver.Drivers;
import io.polyvisor.status.StatusPatch;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestSpec;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HostUnreachableException;
import io.polyvisor.driver.HypervisorDriver;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.lease.LeaseGuard;
import io.polyvisor.driver.Volume;
import io.polyvisor.migration.MigrationLabels;
import io.polyvisor.observability.VmGauges;
import io.polyvisor.migration.VmMigrations;
import io.polyvisor.operator.OperatorSettings;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * Keeps each VirtualMachine's guest where and as its spec says. Every pass reads the truth from
 * Kubernetes (spec, class, nodes, storage classes) and from the hypervisor (does the guest exist,
 * is it running, with which configuration), acts once, and records status; it can be cut off at
 * any point and run again. The ordering rules that keep a VM from being defined twice:
 *
 * <ol>
 *   <li>A guest is looked for on every node of its class before a new node is chosen, so a guest
 *       whose node was never recorded (crash after define) is adopted, not duplicated.
 *   <li>A new node is recorded in status first, and the guest is defined there only on a later
 *       pass that reads the node back from status.
 *   <li>A guest is defined or started only when every host that could hold a copy answered: the
 *       nodes of the class, and the node the guest was last seen on even if it left the class or
 *       its Node was deleted (reached by the endpoint kept in status). A host that cannot be read
 *       means waiting, with {@code Ready=Unknown} naming it and an Event. Copies found on two hosts
 *       are never touched: a person decides which is stale.
 *   <li>Right before a define or a start, the VM's migrations are read from the API server (not the
 *       cache): a migration created a moment ago owns the VM.
 * </ol>
 */
public final class VirtualMachineReconciler implements Reconciler<VirtualMachine>, Cleaner<VirtualMachine> {

  private static final Logger log = LoggerFactory.getLogger(VirtualMachineReconciler.class);
  private static final Duration RETRY_HOST = Duration.ofSeconds(15);
  private static final Duration RETRY_ERROR = Duration.ofSeconds(30);
  private static final Duration STOPPING_POLL = Duration.ofSeconds(2);

  private final Drivers drivers;
  private final OperatorSettings settings;
  private final Clock clock;
  private final Object placementLock = new Object();
  /** Nodes chosen but perhaps not yet visible in the informer cache, by VM uid. */
  private final Map<String, String> pendingPlacements = new HashMap<>();
  private ClusterState cluster;
  private EventRecorder events;
  private DrainGuard drainGuard = DrainGuard.NONE;
  private VmGauges gauges = VmGauges.NONE;
  /**
   * The VM's migration that is not final, read from the API server rather than the informer cache
   * right before a guest is defined or started: a migration created a moment ago must stop that.
   */
  private Function<VirtualMachine, Optional<VirtualMachineMigration>> activeMigrationNow = vm -> cluster.activeMigration(vm);
  private VmMigrations migrations = VmMigrations.NONE;
  /**
   * Carries out the status patch a pass returns: written at once and read back by the next pass
   * (see {@link StatusPatch#writeAndCache}); tests without an API server look at the patch itself.
   */
  private StatusWrite statusWrite = StatusPatch::writeAndCache;
  /** Read before a deleted VM is let go without a hypervisor call to show it (see {@code Removal#leads}). */
  private final LeaseGuard lease;

  /** What becomes of the UpdateControl a pass returns, given the VM it read. */
  @FunctionalInterface
  interface StatusWrite {
    UpdateControl<VirtualMachine> apply(UpdateControl<VirtualMachine> control, VirtualMachine read, Context<VirtualMachine> context);
  }

  /** @param lease the guard of this process's hypervisor calls: a deposed leader lets no deleted VM go either */
  public VirtualMachineReconciler(Drivers drivers, OperatorSettings settings, Clock clock, LeaseGuard lease) {
    this.drivers = drivers;
    this.settings = settings;
    this.clock = clock;
    this.lease = lease;
  }

  /** For unit tests: a reconciler over a given view of the cluster, without informers. */
  VirtualMachineReconciler(Drivers drivers, OperatorSettings settings, Clock clock, ClusterState cluster, EventRecorder events) {
    this(drivers, settings, clock, cluster, events, DrainGuard.NONE, LeaseGuard.unguarded());
  }

  /** For unit tests of what a process that no longer leads does. */
  VirtualMachineReconciler(
      Drivers drivers, OperatorSettings settings, Clock clock, ClusterState cluster, EventRecorder events, LeaseGuard lease) {
    this(drivers, settings, clock, cluster, events, DrainGuard.NONE, lease);
  }

  /** For unit tests that look at what the drain guard is told. */
  VirtualMachineReconciler(
      Drivers drivers, OperatorSettings settings, Clock clock, ClusterState cluster, EventRecorder events, DrainGuard drainGuard) {
    this(drivers, settings, clock, cluster, events, drainGuard, LeaseGuard.unguarded());
  }

  private VirtualMachineReconciler(Drivers drivers, OperatorSettings settings, Clock clock, ClusterState cluster,
      EventRecorder events, DrainGuard drainGuard, LeaseGuard lease) {
    this(drivers, settings, clock, lease);
    this.cluster = cluster;
    this.events = events;
    this.drainGuard = drainGuard;
    this.statusWrite = (control, read, context) -> control;
  }

  @Override
  public List<EventSource<?, VirtualMachine>> prepareEventSources(EventSourceContext<VirtualMachine> context) {
    ClusterView view = new ClusterView(context);
    cluster = view;
    gauges = new VmGauges(view::virtualMachines);
    events = new EventRecorder(context.getClient());
    LiveClusterState live = new LiveClusterState(context.getClient());
    activeMigrationNow = live::activeMigration;
    migrations = new VmMigrations(context.getClient());
    List<EventSource<?, VirtualMachine>> sources = new ArrayList<>(view.eventSources());
    sources.add(new GuestEventSource(drivers, context.getPrimaryCache()));
    PlaceholderPods placeholders = new PlaceholderPods(context, settings.placeholderImage());
    drainGuard = placeholders;
    sources.add(placeholders.eventSource());
    return sources;
  }

  @Override
  public UpdateControl<VirtualMachine> reconcile(VirtualMachine vm, Context<VirtualMachine> context) {
    MDC.put("resource", vm.getMetadata().getNamespace() + "/" + vm.getMetadata().getName());
    try {
      Pass pass = new Pass(vm);
      Optional<Duration> again = pass.run();
      return statusWrite.apply(pass.finish(again), vm, context);
    } finally {
      MDC.remove("resource");
    }
  }

  @Override
  public DeleteControl cleanup(VirtualMachine vm, Context<VirtualMachine> context) {
    MDC.put("resource", vm.getMetadata().getNamespace() + "/" + vm.getMetadata().getName());
    try {
      DeleteControl control = new Removal(vm).run();
      if (control.isRemoveFinalizer()) {
        // The guest is gone from every node: nothing is left there for a drain to wait for.
        drainGuard.releaseAll(vm);
      }
      return control;
    } finally {
      MDC.remove("resource");
    }
  }

  /** One reconciliation of one VM: the state it reads, the status it builds. */
  private final class Pass {
    private final VirtualMachine vm;
    private final VirtualMachineStatus status;
    private final String before;
    private final Instant now = clock.instant();

    Pass(VirtualMachine vm) {
      this.vm = vm;
      VirtualMachineStatus current = vm.getStatus() == null ? new VirtualMachineStatus() : vm.getStatus();
      this.before = Serialization.asJson(current);
      this.status = Serialization.clone(current);
      if (status.conditions == null) {
        status.conditions = new ArrayList<>();
      }
    }

    Optional<Duration> run() {
      HypervisorClass hvc = cluster.hypervisorClass(vm.getSpec().hypervisorClassName).orElse(null);
      if (hvc == null) {
        return unschedulable("HypervisorClassNotFound", "HypervisorClass " + vm.getSpec().hypervisorClassName
            + " does not exist; create it or fix spec.hypervisorClassName");
      }
      Optional<HypervisorDriver> driver = drivers.get(hvc.getSpec().driver);
      if (driver.isEmpty()) {
        return unschedulable("DriverUnavailable", "this operator has no " + hvc.getSpec().driver.name().toLowerCase()
            + " driver; HypervisorClass " + hvc.getMetadata().getName() + " cannot run VMs yet");
      }
      List<DiskPlan> disks;
      try {
        disks = DiskPlan.resolve(vm, hvc.getSpec().driver, cluster::storageClass);
      } catch (DiskPlan.InvalidStorage e) {
        return unschedulable("InvalidStorage", e.getMessage());
      }
      Optional<VirtualMachineMigration> migration = cluster.activeMigration(vm);
      if (migration.isPresent()) {
        return handsOff(migration.get());
      }
      Optional<VirtualMachineMigration> held = cluster.migrationsOf(vm).stream().filter(VmMigrations::held).findFirst();
      if (held.isPresent()) {
        return heldForAPerson(held.get());
      }
      condition(VirtualMachineStatus.MIGRATING, "False", "NotMigrating", "no live migration under way");
      status.migration = null;
      List<HypervisorNode> nodes = cluster.nodesOf(hvc);
      try {
        return reconcileOn(hvc, driver.get(), disks, nodes);
      } catch (HostUnreachableException e) {
        condition(VirtualMachineStatus.READY, "Unknown", "HostUnreachable", e.getMessage());
        return Optional.of(RETRY_HOST);
      } catch (HypervisorException e) {
        log.warn("hypervisor error: {}", e.getMessage());
        condition(VirtualMachineStatus.READY, "False", "HypervisorError", e.getMessage());
        return Optional.of(RETRY_ERROR);
      }
    }

    /**
     * A migration owns the VM while it is not final: two actors on one guest is how copies
     * multiply (a source stopped by the switch-over must not be restarted). Only mirror it.
     */
    private Optional<Duration> handsOff(VirtualMachineMigration migration) {
      MigrationSummary summary = new MigrationSummary();
      summary.name = migration.getMetadata().getName();
      var ms = migration.getStatus();
      summary.phase = ms == null || ms.phase == null ? MigrationPhase.Pending : ms.phase;
      summary.sourceNode = ms == null ? null : ms.sourceNode;
      summary.targetNode = ms == null ? null : ms.targetNode;
      summary.progressPercent = ms == null ? null : ms.progressPercent;
      status.migration = summary;
      if (summary.phase == MigrationPhase.Running || summary.phase == MigrationPhase.Scheduling) {
        setPhase(VirtualMachinePhase.Migrating);
      }
      condition(VirtualMachineStatus.MIGRATING, "True", summary.phase.name(),
          "migration " + summary.name + (summary.targetNode == null ? "" : " to " + summary.targetNode) + " is " + summary.phase);
      return Optional.empty();
    }

    private Optional<Duration> reconcileOn(
        HypervisorClass hvc, HypervisorDriver driver, List<DiskPlan> disks, List<HypervisorNode> nodes) {
      Set<String> required = mustAnswer();
      List<HypervisorNode> hosts = hostsThatCouldHoldIt(hvc, nodes, required);
      GuestCensus census = census(driver, hosts);
      if (census.copies().size() > 1) {
        return severalCopies(census);
      }
      Map<String, String> unanswered = new java.util.LinkedHashMap<>(census.unreadableAmong(required));
      Set<String> declaredDown = declaredDown(hosts, required, census);
      unanswered.keySet().removeAll(declaredDown);
      if (!declaredDown.isEmpty()) {
        abandon(declaredDown, disks, census.copies().isEmpty());
      }
      if (!unanswered.isEmpty()) {
        // A host that may hold the guest did not answer: nothing is adopted, defined or started
        // elsewhere, since its copy may be the running or the newest one.
        return unverifiable(unanswered);
      }
      Optional<Located> located = census.only();
      if (located.isPresent() && status.abandonedNodes != null) {
        if (status.abandonedNodes.contains(located.get().node().name())) {
          // The node came back holding the only copy, and no other was started: it is the guest's.
          status.abandonedNodes = without(status.abandonedNodes, located.get().node().name());
        } else if (located.get().guest().state() == GuestState.RUNNING) {
          Optional<String> staleRuns = removeWhatWasAbandoned(hvc, driver, disks);
          if (staleRuns.isPresent()) {
            if (condition(VirtualMachineStatus.READY, "Unknown", "CopiesOnSeveralHosts", staleRuns.get())) {
              events.warning(vm, "CopiesOnSeveralHosts", staleRuns.get());
            }
            return Optional.of(RETRY_ERROR);
          }
        }
      }
      HypervisorNode node;
      if (located.isPresent()) {
        node = located.get().node();
        if (!node.name().equals(status.nodeName)) {
          if (status.phase != VirtualMachinePhase.Migrating) {
            events.normal(vm, "Adopted", "found the guest on " + node.name() + " and adopted it");
          }
          status.nodeName = node.name();
        }
      } else {
        Optional<HypervisorNode> recorded =
            nodes.stream().filter(n -> n.name().equals(status.nodeName) && !declaredDown.contains(n.name())).findFirst();
        if (recorded.isEmpty()) {
          // The guest runs on no node: placeholders elsewhere guard nothing.
          drainGuard.releaseAll(vm);
          return place(hvc, nodes);
        }
        node = recorded.get();
      }
      status.hostEndpoint = node.host().endpoint();
      if (nodes.stream().noneMatch(n -> n.name().equals(node.name()))) {
        String message = "the guest runs on " + node.name() + ", which no longer serves HypervisorClass " + hvc.getMetadata().getName()
            + (cluster.node(node.name()).isEmpty() ? " (its Node was deleted)" : "")
            + "; it stays there, and is never started elsewhere, until it is moved off or the VM is deleted";
        if (condition(VirtualMachineStatus.SCHEDULED, "True", "NodeLeftClass", message)) {
          events.warning(vm, "NodeLeftClass", message);
        }
      } else {
        condition(VirtualMachineStatus.SCHEDULED, "True", "Scheduled", "runs on node " + node.name());
      }

      Map<String, Volume> volumes = new HashMap<>();
      for (DiskPlan disk : disks) {
        try {
          volumes.put(disk.disk().name, driver.createVolume(node.host(), disk.volumeSpec()));
        } catch (HostUnreachableException e) {
          throw e;
        } catch (HypervisorException e) {
          setPhase(VirtualMachinePhase.Provisioning);
          String message = "disk " + disk.disk().name + ": " + e.getMessage();
          if (condition(VirtualMachineStatus.READY, "False", "ProvisioningFailed", message)) {
            events.warning(vm, "ProvisioningFailed", message);
          }
          return Optional.of(RETRY_ERROR);
        }
      }
      GuestSpec spec = GuestSpecs.build(vm, GuestSpecs.Hypervisor.of(hvc.getSpec(), vm), disks, volumes, settings.consoleLogDir());
      GuestInfo guest = located.map(Located::guest).orElse(null);
      boolean firstDefinition = guest == null;
      if (guest == null && migratingNow()) {
        return Optional.empty(); // the migration's events wake this VM again
      }
      if (guest == null) {
        guest = driver.define(node.host(), spec);
        events.normal(vm, "Defined", "defined the guest on " + node.name());
      } else if ((guest.state() == GuestState.SHUT_OFF || guest.state() == GuestState.CRASHED)
          && (!spec.revision().equals(guest.revision()) || driver.memoryChange(guest, spec.memory()).pending())) {
        // Off, as the host says: not saved (its memory waits to be resumed) and not in a state
        // the driver cannot name (a hibernated Hyper-V guest), which nothing reconfigures.
        guest = driver.define(node.host(), spec);
      } else if (!spec.revision().equals(guest.revision())) {
        // Running: the new configuration is stored for the next boot; the guest keeps its own.
        driver.define(node.host(), spec);
      }
      if (guest.state() == GuestState.RUNNING) {
        changeMemoryLive(driver, node, guest, spec);
      }
      return power(driver, node, guest, spec, firstDefinition);
    }

    /**
     * Where the host balances Dynamic Memory itself (Hyper-V), the settings a running guest takes
     * now (buffer, priority, minimum down, maximum up) are applied at once; the rest waits for the
     * next boot and RestartRequired names it.
     */
    private void changeMemoryLive(HypervisorDriver driver, HypervisorNode node, GuestInfo guest, GuestSpec spec) {
      Optional<GuestSpec.GuestMemory> live = driver.memoryChange(guest, spec.memory()).live();
      if (live.isPresent()) {
        try {
          driver.changeMemory(node.host(), guest.id().uid(), live.get());
        } catch (HostUnreachableException e) {
          throw e;
        } catch (HypervisorException e) {
          // The guest runs on as it was: its status is still recorded, and the change is tried again.
          log.warn("live memory change refused: {}", e.getMessage());
          events.warning(vm, "MemoryChangeRefused", "the host refused to change the running guest's Dynamic Memory: "
              + e.getMessage() + "; it applies at the next restart if the host keeps refusing");
          return;
        }
        GuestSpec.GuestMemory m = live.get();
        events.normal(vm, "MemoryChanged", "changed the running guest's Dynamic Memory on " + node.name() + ": minimum "
            + Bytes.format(m.minimumBytes()) + ", maximum " + Bytes.format(m.maximumBytes()) + ", buffer " + m.bufferPercent()
            + "%, priority " + m.priority());
      }
    }

    /** Applies the run strategy, then records what runs. */
    private Optional<Duration> power(
        HypervisorDriver driver, HypervisorNode node, GuestInfo guest, GuestSpec spec, boolean firstDefinition) {
      Host host = node.host();
      RunStrategy strategy = vm.getSpec().runStrategy == null ? RunStrategy.Always : vm.getSpec().runStrategy;
      GuestState state = guest.state();
      boolean start =
          switch (strategy) {
            case Always -> !state.isActive();
            case RerunOnFailure -> state == GuestState.CRASHED || (firstDefinition && !state.isActive());
            case Manual -> firstDefinition && !state.isActive();
            case Halted -> false;
          };
      if (start && migratingNow()) {
        return Optional.empty();
      }
      if (start) {
        if (state == GuestState.CRASHED) {
          events.warning(vm, "Crashed", "the guest crashed on " + node.name() + "; starting it again (" + strategy + ")");
        }
        if (guest.emulated()) {
          // Defined for emulation (before the host offered KVM, perhaps): defined again first,
          // which gives it KVM where the host has it now.
          guest = driver.define(host, spec);
        }
        driver.start(host, guest.id().uid());
        events.normal(vm, "Started", "started the guest on " + node.name());
        guest = driver.find(host, guest.id().uid()).orElse(guest);
      }
      if (strategy == RunStrategy.Halted && guest.state().isActive()) {
        return keepDrainGuard(node, guest, stop(driver, node, guest));
      }
      return record(driver, node, guest, spec, strategy);
    }

    /**
     * The hosts to search for the guest: the class's nodes, and the node it was last seen on even
     * when that node left the class or its Node object is gone (reached by the endpoint kept in
     * status), since its hypervisor may still run the guest.
     */
    private List<HypervisorNode> hostsThatCouldHoldIt(HypervisorClass hvc, List<HypervisorNode> nodes, Set<String> required) {
      List<HypervisorNode> hosts = new ArrayList<>(nodes);
      for (String name : required) {
        if (hosts.stream().noneMatch(n -> n.name().equals(name))) {
          hosts.add(host(hvc, name));
        }
      }
      return hosts;
    }

    /**
     * The hosts that must answer before the guest is defined, adopted or started: a copy can only
     * be where the guest was placed (recorded before any define) or at either end of its latest
     * move. Other nodes of the class are searched too, for a stray copy, but one that is down
     * does not hold up the VM.
     */
    private Set<String> mustAnswer() {
      Set<String> required = new java.util.LinkedHashSet<>();
      if (status.nodeName != null) {
        required.add(status.nodeName);
      }
      cluster.migrationsOf(vm).stream()
          .filter(m -> m.getStatus() != null && m.getStatus().sourceNode != null)
          .max(java.util.Comparator.comparing((VirtualMachineMigration m) -> m.getMetadata().getCreationTimestamp()))
          .ifPresent(m -> {
            required.add(m.getStatus().sourceNode);
            Optional.ofNullable(m.getStatus().targetNode).ifPresent(required::add);
          });
      return required;
    }

    /**
     * A node as a host to read, even one that left the class; one whose Node is gone is reached by
     * the endpoint recorded for it, or else cannot be read at all (and says so).
     */
    private HypervisorNode host(HypervisorClass hvc, String name) {
      return cluster.node(name).map(n -> HypervisorNode.of(n, hvc))
          .orElseGet(() -> HypervisorNode.gone(name,
              name.equals(status.nodeName) && status.hostEndpoint != null ? status.hostEndpoint : "unknown://" + name, hvc));
    }

    /**
     * Every host's copy of the guest; when the recorded node runs it (the steady state), only that
     * node is read: nothing is to be defined or started then.
     */
    private GuestCensus census(HypervisorDriver driver, List<HypervisorNode> hosts) {
      Optional<HypervisorNode> recorded = hosts.stream().filter(n -> n.name().equals(status.nodeName)).findFirst();
      if (recorded.isPresent()) {
        GuestCensus there = GuestCensus.take(driver, List.of(recorded.get()), vm.getMetadata().getUid());
        if (there.only().map(l -> l.guest().state() == GuestState.RUNNING).orElse(false)) {
          return there;
        }
      }
      return GuestCensus.take(driver, hosts, vm.getMetadata().getUid());
    }

    /**
     * The hosts that must answer and that a person has declared down (see {@link
     * HypervisorNode#outOfService}), except one where a copy was found: a host that answers is
     * believed over the taint.
     */
    private Set<String> declaredDown(List<HypervisorNode> hosts, Set<String> required, GuestCensus census) {
      return hosts.stream().filter(h -> h.outOfService() && required.contains(h.name()))
          .filter(h -> census.copies().stream().noneMatch(c -> c.node().name().equals(h.name())))
          .map(HypervisorNode::name)
          .collect(java.util.stream.Collectors.toCollection(java.util.LinkedHashSet::new));
    }

    /**
     * Gives up what declared-down hosts may hold of the guest: a copy there is taken as not
     * running, and they are recorded (before anything is defined or started elsewhere: the
     * placement ends the pass) so that what is left there is removed once they answer. The node
     * the guest was last seen on is worth a warning; an end of its last move that does not hold it
     * is only noted.
     */
    private void abandon(Set<String> declaredDown, List<DiskPlan> disks, boolean noCopyFound) {
      List<String> abandoned = status.abandonedNodes == null ? new ArrayList<>() : new ArrayList<>(status.abandonedNodes);
      for (String name : declaredDown) {
        if (abandoned.contains(name)) {
          continue;
        }
        abandoned.add(name);
        String declared = "node " + name + " is declared out of service (taint " + HypervisorNode.OUT_OF_SERVICE + ") and does not"
            + " answer, so what it holds of the guest is taken as not running";
        if (noCopyFound) {
          // Its copy may have been the only one, or the newest.
          boolean localDisks = disks.stream().anyMatch(d -> !d.pool().shared());
          events.warning(vm, "HostDeclaredDown", declared + ", and the guest may be started on another node"
              + (localDisks ? "; its local disks start again from their sources there, what was written to them on " + name
              + " is not recovered" : ""));
        } else {
          events.normal(vm, "HostDeclaredDown", declared + "; the guest is on another node, and what is left of it on " + name
              + " is removed once it answers again");
        }
      }
      status.abandonedNodes = abandoned;
    }

    private static List<String> without(List<String> names, String name) {
      List<String> left = new ArrayList<>(names);
      left.remove(name);
      return left.isEmpty() ? null : left;
    }

    /**
     * What is left of the guest on nodes given up while declared down, removed once they answer
     * and are no longer declared down; called only while the guest runs on another node, so what
     * is left there is older: a stopped copy goes with its local volumes, while a copy that runs or
     * is paused there is never touched (it is reported: the declaration was wrong). A node that
     * does not answer yet is tried again on a later pass.
     */
    private Optional<String> removeWhatWasAbandoned(HypervisorClass hvc, HypervisorDriver driver, List<DiskPlan> disks) {
      String uid = vm.getMetadata().getUid();
      List<String> left = new ArrayList<>();
      Optional<String> staleRuns = Optional.empty();
      for (String name : status.abandonedNodes) {
        HypervisorNode node = host(hvc, name);
        if (node.outOfService() || cluster.node(name).isEmpty()) {
          left.add(name);
          continue;
        }
        try {
          Optional<GuestInfo> copy = driver.find(node.host(), uid);
          GuestState state = copy.map(GuestInfo::state).orElse(GuestState.SHUT_OFF);
          if (state != GuestState.SHUT_OFF && state != GuestState.CRASHED) {
            left.add(name);
            staleRuns = Optional.of("node " + name + ", given up while it was declared out of service, holds a copy of the guest"
                + " that is " + state.name().toLowerCase().replace('_', ' ') + " while the guest runs on " + status.nodeName
                + ": neither is touched; stop and remove the stale copy on " + name + " by hand");
            continue;
          }
          if (migratingNow()) {
            return Optional.empty(); // a move reads the hosts now; what is left waits for its end
          }
          if (copy.isPresent()) {
            driver.undefine(node.host(), uid);
          }
          for (DiskPlan disk : disks) {
            if (!disk.pool().shared()) {
              driver.deleteVolume(node.host(), disk.pool(), disk.volumeName());
            }
          }
          events.normal(vm, "RemovedStaleCopy", "node " + name + " answers again: removed "
              + (copy.isPresent() ? "the stopped copy of the guest and " : "") + "the volumes left there when it was given up");
        } catch (HypervisorException e) {
          log.info("what is left of the guest on {} waits until it answers: {}", name, e.getMessage());
          left.add(name);
        }
      }
      status.abandonedNodes = left.isEmpty() ? null : left;
      return staleRuns;
    }

    /** A migration ended needing a person: the guest is left exactly as it is until the mark goes. */
    private Optional<Duration> heldForAPerson(VirtualMachineMigration migration) {
      String name = migration.getMetadata().getName();
      String message = migration.getMetadata().getAnnotations().get(MigrationLabels.HOLD) + "; nothing is started, stopped or"
          + " removed until a person has checked the hosts and removed the annotation " + MigrationLabels.HOLD + " from migration "
          + name + " (kubectl annotate virtualmachinemigration " + name + " " + MigrationLabels.HOLD + "-)";
      if (condition(VirtualMachineStatus.READY, "Unknown", "NeedsAPerson", message)) {
        events.warning(vm, "NeedsAPerson", message);
      }
      return Optional.empty(); // removing the mark changes the migration, which wakes this VM
    }

    /** Copies on two hosts: which one is current is not for the operator to guess. */
    private Optional<Duration> severalCopies(GuestCensus census) {
      String where = String.join(", ", census.copies().stream()
          .map(l -> l.node().name() + " (" + l.guest().state().name().toLowerCase().replace('_', ' ') + ")").toList());
      String message = "the guest has a copy on more than one host: " + where + "; none is started, stopped or removed"
          + " until a person removes the stale one";
      if (condition(VirtualMachineStatus.READY, "Unknown", "CopiesOnSeveralHosts", message)) {
        events.warning(vm, "CopiesOnSeveralHosts", message);
      }
      return Optional.of(RETRY_ERROR);
    }

    /** A host that may hold the guest did not answer: define nothing, start nothing. */
    private Optional<Duration> unverifiable(Map<String, String> unanswered) {
      String message = "cannot check " + GuestCensus.describe(unanswered) + " for the guest; nothing is defined or started"
          + " on another host until " + (unanswered.size() == 1 ? "it answers" : "they answer");
      if (condition(VirtualMachineStatus.READY, "Unknown", "HostUnreachable", message)) {
        events.warning(vm, "HostUnreachable", message);
      }
      return Optional.of(RETRY_HOST);
    }

    /** Whether a migration owns the VM right now, read from the API server. */
    private boolean migratingNow() {
      Optional<VirtualMachineMigration> migration = activeMigrationNow.apply(vm);
      migration.ifPresent(m -> log.info("migration {} owns the VM now; leaving the guest to it", m.getMetadata().getName()));
      return migration.isPresent();
    }

    /** Halted: ask the guest to shut down, cut its power once the grace period is over. */
    private Optional<Duration> stop(HypervisorDriver driver, HypervisorNode node, GuestInfo guest) {
      boolean alreadyStopping =
          status.phase == VirtualMachinePhase.Stopping
              && Conditions.find(status.conditions, VirtualMachineStatus.READY).map(c -> "Stopping".equals(c.getReason())).orElse(false);
      if (!alreadyStopping) {
        driver.shutdown(node.host(), guest.id().uid(), Duration.ZERO);
        events.normal(vm, "Stopping", "asked the guest on " + node.name() + " to shut down (runStrategy Halted)");
        setPhase(VirtualMachinePhase.Stopping);
        condition(VirtualMachineStatus.READY, "False", "Stopping", "the guest was asked to shut down");
        return Optional.of(STOPPING_POLL);
      }
      Instant since = Conditions.since(status.conditions, VirtualMachineStatus.READY).orElse(now);
      if (Duration.between(since, now).compareTo(settings.shutdownGracePeriod()) >= 0) {
        driver.forceStop(node.host(), guest.id().uid());
        events.warning(vm, "ForcedOff", "the guest did not shut down within " + settings.shutdownGracePeriod().toSeconds()
            + "s; cut its power");
        return Optional.of(Duration.ofMillis(1));
      }
      return Optional.of(STOPPING_POLL);
    }

    private Optional<Duration> record(
        HypervisorDriver driver, HypervisorNode node, GuestInfo guest, GuestSpec spec, RunStrategy strategy) {
      // A paused or saved guest is not running: its tenant's work has stopped.
      boolean running = guest.state() == GuestState.RUNNING;
      boolean paused = guest.state() == GuestState.PAUSED || guest.state() == GuestState.SAVED;
      VirtualMachinePhase phase =
          running ? VirtualMachinePhase.Running
              : paused ? VirtualMachinePhase.Paused
              : guest.state() == GuestState.CRASHED && strategy != RunStrategy.Always ? VirtualMachinePhase.Failed
              : guest.state().isActive() ? VirtualMachinePhase.Starting
              : VirtualMachinePhase.Stopped;
      if (setPhase(phase) && phase == VirtualMachinePhase.Stopped) {
        events.normal(vm, "Stopped", "the guest is off on " + node.name());
      }
      condition(VirtualMachineStatus.READY, Conditions.status(running),
          running ? "Running" : guest.state() == GuestState.SAVED ? "Saved" : phase.name(),
          running ? "the guest runs on " + node.name()
              : guest.state() == GuestState.SAVED ? "the guest is saved to disk on " + node.name() + " and does not run"
                  + (strategy == RunStrategy.Always ? "; starting it resumes it" : "")
              : "the guest is " + guest.state().name().toLowerCase().replace('_', ' ') + " on " + node.name());
      String accelerated = guest.emulated()
          ? "the guest runs under software emulation on " + node.name() + ", many times slower: it was defined when the host"
              + " offered no KVM (/dev/kvm). If the host has it now, the guest is accelerated from its next start; if not, enable"
              + " virtualisation in the host's firmware and load the kvm module"
          : "the guest runs with hardware virtualisation on " + node.name();
      if (condition(VirtualMachineStatus.ACCELERATED, Conditions.status(!guest.emulated()),
          guest.emulated() ? "Emulated" : "HardwareVirtualization", accelerated) && guest.emulated()) {
        events.warning(vm, "Emulated", accelerated);
      }
      condition(VirtualMachineStatus.LIVE_MIGRATABLE, Conditions.status(running), running ? "Migratable" : "NotRunning",
          running ? "the guest can be live-migrated to another node of its class" : "only a running guest can be live-migrated");
      List<String> memoryAtNextBoot = running ? driver.memoryChange(guest, spec.memory()).atNextBoot() : List.of();
      boolean specChanged = running && !spec.revision().equals(guest.revision());
      List<String> waiting = new ArrayList<>();
      if (specChanged) {
        waiting.add("cores, memory, NUMA, disks, networks, CPU model or Secure Boot changed");
      }
      waiting.addAll(memoryAtNextBoot);
      boolean restartRequired = !waiting.isEmpty();
      condition(VirtualMachineStatus.RESTART_REQUIRED, Conditions.status(restartRequired),
          restartRequired ? "SpecChanged" : "UpToDate",
          restartRequired ? String.join("; ", waiting) + "; they apply at the next restart" : "the guest runs its current configuration");
      if (restartRequired && Conditions.isTrue(status.conditions, VirtualMachineStatus.RESTART_REQUIRED)
          && !before.contains("\"SpecChanged\"")) {
        events.normal(vm, "RestartRequired", "the new configuration applies at the guest's next restart");
      }
      status.memory = running ? assigned(guest.currentMemoryBytes()) : null;
      status.cpuModel = guest.state().isActive() ? guest.cpuModel().orElse(null) : null;
      Optional<Duration> again = Optional.empty();
      if (running && MemoryRequest.isDynamic(vm.getSpec().memory)) {
        balance(driver, node, guest);
        again = Optional.of(settings.balloonPeriod());
      }
      return keepDrainGuard(node, guest, again);
    }

    /**
     * A placeholder pod on the guest's node while the guest may run there, so that draining the
     * node waits for it (see {@link DrainGuard}); none for a guest that is off, which a drain need
     * not wait for (evacuation moves only running guests). A failure is reported and retried; the
     * status of this pass is recorded all the same.
     */
    private Optional<Duration> keepDrainGuard(HypervisorNode node, GuestInfo guest, Optional<Duration> again) {
      boolean mayRun = guest.state().isActive();
      try {
        if (mayRun) {
          if (!drainGuard.guardOn(vm, node.name())) {
            // The old node's placeholder goes on the pass that reads the new node back from status.
            return Optional.of(Duration.ofMillis(1));
          }
        } else {
          drainGuard.releaseAll(vm);
        }
        return again;
      } catch (KubernetesClientException e) {
        log.warn("drain guard on {}: {}", node.name(), e.getMessage());
        events.warning(vm, "DrainGuardFailed", "could not keep the placeholder pod that makes kubectl drain wait for this VM"
            + " on " + node.name() + ": " + e.getMessage());
        return Optional.of(RETRY_ERROR);
      }
    }

    /** Dynamic memory on KVM: move the balloon toward demand plus buffer, within minimum and maximum. */
    private void balance(HypervisorDriver driver, HypervisorNode node, GuestInfo guest) {
      driver.memoryStats(node.host(), guest.id().uid()).ifPresent(stats -> {
        OptionalLong target = BalloonPolicy.target(vm.getSpec().memory, stats);
        if (target.isPresent()) {
          log.info("balloon: demand {} → target {}", Bytes.format(stats.demandBytes()), Bytes.format(target.getAsLong()));
          driver.setMemoryTarget(node.host(), guest.id().uid(), target.getAsLong());
          status.memory = assigned(target.getAsLong());
        }
        status.memory.demand = new Quantity(Bytes.format(stats.demandBytes()));
      });
    }

    private MemoryStatus assigned(long bytes) {
      MemoryStatus memory = new MemoryStatus();
      memory.assigned = new Quantity(Bytes.format(bytes));
      return memory;
    }

    private Optional<Duration> place(HypervisorClass hvc, List<HypervisorNode> nodes) {
      // Not back onto a node given up while declared down before what is left there is removed.
      Set<String> abandoned = status.abandonedNodes == null ? Set.of() : Set.copyOf(status.abandonedNodes);
      Placement.Decision decision;
      // Only the decision and its record are under the lock: the Event said of it is a request to
      // the API server, which under the lock would make every placement wait for the one before.
      synchronized (placementLock) {
        decision = Placement.place(vm, hvc, nodes, committed(), abandoned);
        if (decision instanceof Placement.Placed placed) {
          pendingPlacements.put(vm.getMetadata().getUid(), placed.node().name());
        }
      }
      if (decision instanceof Placement.Unschedulable u) {
        return unschedulable(u.reason(), u.message());
      }
      HypervisorNode node = ((Placement.Placed) decision).node();
      status.nodeName = node.name();
      setPhase(VirtualMachinePhase.Scheduled);
      condition(VirtualMachineStatus.SCHEDULED, "True", "Scheduled", "placed on node " + node.name());
      events.normal(vm, "Scheduled", "placed on node " + node.name());
      // Act on the next pass, which reads the node back from status (see the class comment).
      return Optional.of(Duration.ofMillis(1));
    }

    /** What is promised on each node: VMs placed there and moving there (from the cache), and placements in flight. */
    private Commitments committed() {
      List<VirtualMachine> others = cluster.virtualMachines().stream()
          .filter(other -> !other.getMetadata().getUid().equals(vm.getMetadata().getUid())).toList();
      Commitments committed = Commitments.of(others, cluster.migrations(), null);
      for (VirtualMachine other : others) {
        String uid = other.getMetadata().getUid();
        String recorded = other.getStatus() == null ? null : other.getStatus().nodeName;
        if (recorded != null) {
          pendingPlacements.remove(uid, recorded);
        } else if (pendingPlacements.containsKey(uid)) {
          committed.add(pendingPlacements.get(uid), Demand.of(other));
        }
      }
      return committed;
    }

    private Optional<Duration> unschedulable(String reason, String message) {
      setPhase(VirtualMachinePhase.Pending);
      boolean changed = condition(VirtualMachineStatus.SCHEDULED, "False", reason, message);
      condition(VirtualMachineStatus.READY, "False", reason, message);
      if (changed) {
        events.warning(vm, reason, message);
      }
      // No polling: node, class and storage class changes wake this VM again.
      return Optional.empty();
    }

    /** Sets a condition; returns whether its status, reason or message changed. */
    private boolean condition(String type, String value, String reason, String message) {
      var previous = Conditions.find(status.conditions, type);
      Conditions.set(status.conditions, type, value, reason, message, vm.getMetadata().getGeneration(), now);
      return previous.map(p -> !value.equals(p.getStatus()) || !reason.equals(p.getReason()) || !message.equals(p.getMessage()))
          .orElse(true);
    }

    /** Sets the phase; returns whether it changed. */
    private boolean setPhase(VirtualMachinePhase phase) {
      boolean changed = status.phase != phase;
      status.phase = phase;
      gauges.seen(vm.getSpec().hypervisorClassName, phase);
      return changed;
    }

    UpdateControl<VirtualMachine> finish(Optional<Duration> again) {
      status.observedGeneration = vm.getMetadata().getGeneration();
      return StatusPatch.ifChanged(vm, status, before, VirtualMachine::new, again);
    }

  }


  /** Deleting a VM: guest off and undefined, volumes deleted, then the finalizer goes. */
  private final class Removal {
    private final VirtualMachine vm;

    Removal(VirtualMachine vm) {
      this.vm = vm;
    }

    DeleteControl run() {
      HypervisorClass hvc = cluster.hypervisorClass(vm.getSpec().hypervisorClassName).orElse(null);
      Optional<HypervisorDriver> driver = hvc == null ? Optional.empty() : drivers.get(hvc.getSpec().driver);
      if (driver.isEmpty()) {
        // No class (or no driver for it) to find the guest with: either none was ever created, or
        // the class was deleted after its VMs. A deposed process's cache may also have lost it.
        return leads() ? DeleteControl.defaultDelete() : keptForTheLeader();
      }
      Optional<VirtualMachineMigration> moving = activeMigrationNow.apply(vm);
      if (moving.isPresent()) {
        // A move in progress owns the guest: removing it under the move would let the move start
        // a copy on the target after we looked. Cancel it and wait for its end.
        if (!VmMigrations.cancelRequested(moving.get())) {
          events.normal(vm, "DeletionWaitsForMigration", "migration " + moving.get().getMetadata().getName()
              + " is cancelled; the guest and its volumes are removed once it has ended");
        }
        migrations.cancel(moving.get(), "the VirtualMachine is being deleted");
        return DeleteControl.noFinalizerRemoval().rescheduleAfter(STOPPING_POLL.toMillis());
      }
      String recorded = vm.getStatus() == null ? null : vm.getStatus().nodeName;
      String uid = vm.getMetadata().getUid();
      List<HypervisorNode> nodes = cluster.nodesOf(hvc);
      if (recorded != null && cluster.node(recorded).isEmpty() && (vm.getStatus().hostEndpoint == null)) {
        if (!leads()) {
          return keptForTheLeader();
        }
        events.warning(vm, "HostGone", "node " + recorded + " no longer exists, so its guest and volumes could not be"
            + " removed; removing the VM anyway: check that host for a leftover guest and volumes");
        migrations.deleteAll(vm);
        return DeleteControl.defaultDelete();
      }
      Pass pass = new Pass(vm);
      Set<String> required = pass.mustAnswer();
      List<HypervisorNode> hosts = pass.hostsThatCouldHoldIt(hvc, nodes, required);
      GuestCensus census = GuestCensus.take(driver.get(), hosts, uid);
      // Hosts that will never answer (a Node deleted, one declared down) do not hold the removal
      // up; any other that may hold the guest is waited for. The hosts that answer are cleaned
      // either way, and the Event names those that could not be.
      Map<String, String> unanswered = new java.util.LinkedHashMap<>(census.unreadableAmong(required));
      unanswered.keySet().removeIf(name -> cluster.node(name).map(HypervisorNode::outOfService).orElse(true));
      if (!unanswered.isEmpty()) {
        String host = unanswered.keySet().iterator().next();
        return hostTrouble(host, GuestCensus.describe(unanswered));
      }
      try {
        for (Located copy : census.copies()) {
          driver.get().forceStop(copy.node().host(), uid);
          driver.get().undefine(copy.node().host(), uid);
        }
        // Volumes on every host that answered, not only where a copy was: a move that failed or
        // was cut short may have left some on its target. Their names carry the VM's uid, so
        // nothing else is touched, and deleting what is not there does nothing.
        List<HypervisorNode> holding = hosts.stream().filter(h -> !census.unreadable().containsKey(h.name())).toList();
        for (HypervisorNode node : holding) {
          for (DiskPlan disk : DiskPlan.resolve(vm, hvc.getSpec().driver, cluster::storageClass)) {
            driver.get().deleteVolume(node.host(), disk.pool(), disk.volumeName());
          }
        }
        if (!leads()) {
          return keptForTheLeader();
        }
        Map<String, String> gone = census.unreadableAmong(required);
        if (!gone.isEmpty()) {
          // Hosts that may hold the guest and will never answer (their Node deleted, or declared down).
          events.warning(vm, "HostGone", "could not remove the guest from " + GuestCensus.describe(gone) + "; removing the VM"
              + " anyway: check " + (gone.size() == 1 ? "that host" : "those hosts") + " for a leftover guest and volumes");
        } else if (!census.complete()) {
          events.warning(vm, "VolumesMayBeLeft", "could not check " + census.unreadableHosts() + " for a leftover copy of the guest;"
              + " check " + (census.unreadable().size() == 1 ? "that host" : "those hosts"));
        }
        migrations.deleteAll(vm);
        events.normal(vm, "Deleted", "removed the guest and its volumes"
            + (census.copies().isEmpty() ? "" : " from " + String.join(", ", census.copies().stream().map(l -> l.node().name()).toList())));
        return DeleteControl.defaultDelete();
      } catch (DiskPlan.InvalidStorage e) {
        if (!leads()) {
          return keptForTheLeader();
        }
        events.warning(vm, "VolumesLeft", "the guest is gone but its volumes could not be found: " + e.getMessage());
        migrations.deleteAll(vm);
        return DeleteControl.defaultDelete();
      } catch (HypervisorException e) {
        if (LeaseGuard.refused(e)) {
          log.warn("{}", e.getMessage());
          return keptForTheLeader();
        }
        return hostTrouble(recorded, e.getMessage());
      }
    }

    /**
     * Whether this process still leads, read from the Lease, before it lets the VM go on what it
     * read of the cluster alone: a Node missing from its cache, a host it takes as never answering,
     * no host left to read. A deposed process's informers, as they stop, show nodes gone that are
     * not; letting the VM go on that would leave its guest behind. (Hypervisor calls check the
     * Lease themselves; this is for the paths that end without one.)
     */
    private boolean leads() {
      try {
        lease.checkHeld("letting VirtualMachine " + vm.getMetadata().getNamespace() + "/" + vm.getMetadata().getName() + " go");
        return true;
      } catch (HypervisorException e) {
        log.warn("{}", e.getMessage());
        return false;
      }
    }

    /** The finalizer stays: the leader removes the guest. */
    private DeleteControl keptForTheLeader() {
      return DeleteControl.noFinalizerRemoval().rescheduleAfter(RETRY_HOST.toMillis());
    }

    /**
     * The host holding the guest is unreachable. A node that no longer exists, or that a person
     * declared down, will never answer: let the VM go. Otherwise wait, up to the host-gone timeout, then let it go with a warning
     * that names what may be left behind.
     */
    private DeleteControl hostTrouble(String recorded, String why) {
      boolean nodeGone = recorded == null || cluster.node(recorded).map(HypervisorNode::outOfService).orElse(true);
      Instant deleted = Instant.parse(vm.getMetadata().getDeletionTimestamp());
      boolean waitedEnough = Duration.between(deleted, clock.instant()).compareTo(settings.hostGoneTimeout()) >= 0;
      if (nodeGone || waitedEnough) {
        if (!leads()) {
          return keptForTheLeader();
        }
        events.warning(vm, "HostGone", "could not remove the guest from " + recorded + " (" + why
            + "); removing the VM anyway: check that host for a leftover guest and volumes");
        return DeleteControl.defaultDelete();
      }
      events.warning(vm, "CleanupBlocked", why + "; retrying until the Node " + recorded + " is deleted or "
          + settings.hostGoneTimeout().toSeconds() + " s after the VM's deletion (POLYVISOR_HOST_GONE_TIMEOUT_SECONDS)");
      return DeleteControl.noFinalizerRemoval().rescheduleAfter(RETRY_HOST.toMillis());
    }
  }
}
