package io.polyvisor.evacuation;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.polyvisor.api.v1alpha1.ApiGroup;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.MigrationMethod;
import io.polyvisor.api.v1alpha1.MigrationReason;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.cluster.ClusterState;
import io.polyvisor.cluster.NodeConditions;
import io.polyvisor.migration.MigrationLabels;
import io.polyvisor.migration.PlannedMigration;
import io.polyvisor.migration.VmMigrations;
import io.polyvisor.planner.DrainPlan;
import io.polyvisor.planner.EvacuationPlan;
import io.polyvisor.planner.EvacuationPlanner;
import io.polyvisor.planner.EvacuationSnapshot;
import io.polyvisor.vm.EventRecorder;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * Empties a cordoned node. Keyed by Node, it only creates VirtualMachineMigrations (reason
 * Evacuation, within the class's parallelOutboundPerNode and parallelPerCluster): live ones for
 * evictionStrategy LiveMigrate and LiveMigrateOrShutdown, Restart ones for Shutdown and for
 * LiveMigrateOrShutdown once a live one failed. It reports progress in the node condition
 * {@code polyvisor.io/Evacuation}: InProgress, Blocked (with why) or Completed (no VM of ours runs
 * there any more). The migration controller does the moving. A VM whose migration failed is tried
 * again after a wait that doubles with each failure in a row ({@link EvacuationRetry}); one that
 * failed three times in a row for the same reason is reported as blocking, with that reason.
 * Uncordoning cancels: queued migrations end Aborted, running ones are aborted, and none is created
 * afterwards.
 */
public final class EvacuationReconciler implements Reconciler<Node> {

  public static final String CONDITION = ApiGroup.GROUP + "/Evacuation";
  private static final Logger log = LoggerFactory.getLogger(EvacuationReconciler.class);
  /** How often an evacuation under way is looked at again; migrations also wake it when they change. */
  private static final Duration PERIOD = Duration.ofSeconds(3);

  private final KubernetesClient client;
  private final VmMigrations migrations;
  private final ClusterState cluster;
  private final Clock clock;
  private final EventRecorder events;
  /** By node: the seconds the drain plan expected when its evacuation began. */
  private final Map<String, Long> estimates = new java.util.concurrent.ConcurrentHashMap<>();

  public EvacuationReconciler(KubernetesClient client, ClusterState cluster, Clock clock) {
    this.client = client;
    this.migrations = new VmMigrations(client);
    this.cluster = cluster;
    this.clock = clock;
    this.events = new EventRecorder(client);
  }

  @Override
  public List<EventSource<?, Node>> prepareEventSources(EventSourceContext<Node> context) {
    // A migration that changes wakes the node it empties.
    return List.of(
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(VirtualMachineMigration.class, Node.class)
                .withName("evacuation-migrations")
                .withSecondaryToPrimaryMapper(m -> {
                  Map<String, String> labels = m.getMetadata().getLabels();
                  String node = labels == null ? null : labels.get(MigrationLabels.EVACUATED_NODE);
                  return node == null ? Set.of() : Set.of(new ResourceID(node));
                })
                .build(),
            context));
  }

  @Override
  public UpdateControl<Node> reconcile(Node node, Context<Node> context) {
    MDC.put("resource", node.getMetadata().getName());
    try {
      return new Pass(node).run();
    } finally {
      MDC.remove("resource");
    }
  }

  private final class Pass {
    private final Node node;
    private final String name;
    private final Instant now = clock.instant();

    Pass(Node node) {
      this.node = node;
      this.name = node.getMetadata().getName();
    }

    UpdateControl<Node> run() {
      boolean cordoned = node.getSpec() != null && Boolean.TRUE.equals(node.getSpec().getUnschedulable());
      Optional<HypervisorClass> hvc = classOf();
      if (hvc.isEmpty()) {
        EvacuationMetrics.clear(name); // not (or no longer) a hypervisor host of ours
        return UpdateControl.noUpdate();
      }
      if (!cordoned) {
        return uncordoned();
      }
      return evacuate(hvc.get());
    }

    private UpdateControl<Node> uncordoned() {
      EvacuationMetrics.clear(name);
      int cancelled = 0;
      for (VirtualMachineMigration m : evacuationMigrations()) {
        if (ClusterState.isActive(m) && migrations.cancel(m, "node " + name + " was uncordoned")) {
          cancelled++;
        }
      }
      estimates.remove(name);
      Optional<NodeCondition> current = condition();
      if (current.isPresent() && "True".equals(current.get().getStatus())) {
        setCondition("False", "NotCordoned", "the node is schedulable; evacuation stopped"
            + (cancelled > 0 ? " and " + cancelled + " migrations were cancelled" : ""));
        events.normal(node, "EvacuationCancelled", "uncordoned: " + cancelled + " pending or running migrations cancelled");
      }
      return UpdateControl.noUpdate();
    }

    private UpdateControl<Node> evacuate(HypervisorClass hvc) {
      Instant since = condition().filter(c -> "True".equals(c.getStatus()))
          .map(c -> Instant.parse(c.getLastTransitionTime())).orElse(now);
      // The VMs first, then the migrations: a migration that ended since shows as ended.
      List<VirtualMachine> vms = cluster.virtualMachines();
      EvacuationPlan plan = EvacuationPlanner.plan(
          new EvacuationSnapshot(name, hvc, cluster.nodesOf(hvc), vms, cluster.migrations(), since, now));
      for (EvacuationPlan.Step step : plan.starting()) {
        EvacuationPlan.Start start = (EvacuationPlan.Start) step.outcome();
        createMigration(step.vm(), start.target(), start.method());
      }

      EvacuationMetrics.record(name, plan.steps().size(), (int) (plan.count(EvacuationPlan.Moving.class) + plan.starting().size()),
          (int) plan.count(EvacuationPlan.Queued.class), (int) plan.count(EvacuationPlan.Blocked.class));
      String reason = plan.reason();
      String message = plan.message();
      Optional<NodeCondition> previous = condition();
      boolean starting = previous.isEmpty() || !"True".equals(previous.get().getStatus());
      if (starting && !"Completed".equals(reason)) {
        recordEstimate(hvc, since);
      }
      if ("Completed".equals(reason) && !starting && !"Completed".equals(previous.get().getReason())) {
        reportDuration(since);
      }
      if (previous.isEmpty() || !reason.equals(previous.get().getReason()) || !message.equals(previous.get().getMessage())
          || !"True".equals(previous.get().getStatus())) {
        setCondition("True", reason, message);
        if (previous.isEmpty() || !reason.equals(previous.get().getReason())) {
          if ("Blocked".equals(reason)) {
            events.warning(node, "EvacuationBlocked", message);
          } else {
            events.normal(node, "Evacuation" + reason, message);
          }
        }
      }
      if ("Completed".equals(reason)) {
        return UpdateControl.noUpdate();
      }
      Duration again = plan.nextRetry().map(at -> Duration.between(now, at)).orElse(PERIOD);
      return UpdateControl.<Node>noUpdate().rescheduleAfter(Math.max(1, Math.min(PERIOD.toMillis(), again.toMillis())));
    }

    /**
     * Says in an Event how long the drain plan expects the evacuation to take, and remembers it so
     * that the evacuation's end can say how good the estimate was.
     */
    private void recordEstimate(HypervisorClass hvc, Instant since) {
      DrainPlan plan = DrainPlans.of(cluster, hvc, name, true, since, now);
      long seconds = Math.round(plan.expectedSeconds());
      estimates.put(name, seconds);
      events.normal(node, "EvacuationPlanned", "expected to take " + seconds + " s: " + plan.vms().size() + " VMs, " + plan.parallel()
          + " at once, at " + String.format(java.util.Locale.ROOT, "%.1f", plan.throughput().mibPerSecond()) + " MiB/s ("
          + plan.throughput().basis() + ")" + (plan.endsEmpty() ? "" : "; the node will not end empty"));
    }

    private void reportDuration(Instant since) {
      long took = Duration.between(since, now).toSeconds();
      Long estimate = estimates.remove(name);
      events.normal(node, "EvacuationDuration", "the evacuation took " + took + " s"
          + (estimate == null ? " (its estimate was made by an earlier leader: see the EvacuationPlanned Event)"
              : "; the drain plan expected " + estimate + " s"));
    }

    private void createMigration(VirtualMachine vm, String target, MigrationMethod method) {
      VirtualMachineMigration migration =
          PlannedMigration.of(vm, MigrationReason.Evacuation, name, target, method, UUID.randomUUID().toString().substring(0, 5));
      client.resource(migration).create();
      log.info("evacuating {}/{} to {} with {} migration {}", vm.getMetadata().getNamespace(), vm.getMetadata().getName(), target,
          method, migration.getMetadata().getName());
    }

    private Optional<HypervisorClass> classOf() {
      return DrainPlans.classOf(node, client.resources(HypervisorClass.class).list().getItems());
    }

    private List<VirtualMachineMigration> evacuationMigrations() {
      return client.resources(VirtualMachineMigration.class).inAnyNamespace()
          .withLabel(MigrationLabels.EVACUATED_NODE, name).list().getItems();
    }

    private Optional<NodeCondition> condition() {
      return NodeConditions.find(node, CONDITION);
    }

    private void setCondition(String status, String reason, String message) {
      NodeConditions.set(client, node, CONDITION, status, reason, message, now);
    }
  }

}
