package io.polyvisor.evacuation;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.NodeConditionBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;
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
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.cluster.ClusterState;
import io.polyvisor.planner.DrainPlan;
import io.polyvisor.planner.EvacuationPlan;
import io.polyvisor.planner.EvacuationPlanner;
import io.polyvisor.planner.EvacuationSnapshot;
import io.polyvisor.migration.MigrationLabels;
import io.polyvisor.migration.VmMigrations;
import io.polyvisor.vm.EventRecorder;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
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
  /** On a Node being evacuated: the seconds the drain plan expected the evacuation to take when it started. */
  public static final String ESTIMATE_ANNOTATION = ApiGroup.GROUP + "/evacuation-estimate-seconds";
  private static final Logger log = LoggerFactory.getLogger(EvacuationReconciler.class);
  /** How often an evacuation under way is looked at again; migrations also wake it when they change. */
  private static final Duration PERIOD = Duration.ofSeconds(3);

  private final KubernetesClient client;
  private final VmMigrations migrations;
  private final ClusterState cluster;
  private final Clock clock;
  private final EventRecorder events;

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
      if (node.getMetadata().getAnnotations() != null && node.getMetadata().getAnnotations().containsKey(ESTIMATE_ANNOTATION)) {
        client.nodes().withName(name).patch(PatchContext.of(PatchType.JSON_MERGE),
            "{\"metadata\":{\"annotations\":{\"" + ESTIMATE_ANNOTATION + "\":null}}}");
      }
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
      if ("Completed".equals(reason) && previous.isPresent() && !"Completed".equals(previous.get().getReason())) {
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
     * Writes on the Node how long the drain plan expects the evacuation to take, so that its end
     * can say how good the estimate was (and {@code kubectl polyvisor evacuation} can show it).
     */
    private void recordEstimate(HypervisorClass hvc, Instant since) {
      DrainPlan plan = DrainPlans.of(cluster, hvc, name, true, since, now);
      String seconds = String.valueOf(Math.round(plan.expectedSeconds()));
      client.nodes().withName(name).patch(PatchContext.of(PatchType.JSON_MERGE),
          Serialization.asJson(Map.of("metadata", Map.of("annotations", Map.of(ESTIMATE_ANNOTATION, seconds)))));
      log.info("evacuating {}: expected to take {} s at {} MiB/s ({})", name, seconds,
          String.format(java.util.Locale.ROOT, "%.1f", plan.throughput().mibPerSecond()), plan.throughput().basis());
    }

    private void reportDuration(Instant since) {
      long took = Duration.between(since, now).toSeconds();
      String estimate = node.getMetadata().getAnnotations() == null ? null : node.getMetadata().getAnnotations().get(ESTIMATE_ANNOTATION);
      events.normal(node, "EvacuationDuration", "the evacuation took " + took + " s"
          + (estimate == null ? "" : "; the drain plan expected " + estimate + " s"));
    }

    private void createMigration(VirtualMachine vm, String target, MigrationMethod method) {
      VirtualMachineMigration migration =
          EvacuationMigration.of(vm, name, target, method, UUID.randomUUID().toString().substring(0, 5));
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
      return node.getStatus() == null || node.getStatus().getConditions() == null ? Optional.empty()
          : node.getStatus().getConditions().stream().filter(c -> CONDITION.equals(c.getType())).findFirst();
    }

    /** Merges our condition into the node's (strategic merge on type), leaving the others alone. */
    private void setCondition(String status, String reason, String message) {
      String transition = condition().filter(c -> status.equals(c.getStatus())).map(NodeCondition::getLastTransitionTime)
          .orElse(DateTimeFormatter.ISO_INSTANT.format(now.truncatedTo(ChronoUnit.SECONDS)));
      NodeCondition condition = new NodeConditionBuilder().withType(CONDITION).withStatus(status).withReason(reason)
          .withMessage(message).withLastTransitionTime(transition)
          .withLastHeartbeatTime(DateTimeFormatter.ISO_INSTANT.format(now.truncatedTo(ChronoUnit.SECONDS))).build();
      String patch = Serialization.asJson(Map.of("status", Map.of("conditions", List.of(condition))));
      client.nodes().withName(name).subresource("status").patch(PatchContext.of(PatchType.STRATEGIC_MERGE), patch);
    }
  }

}
