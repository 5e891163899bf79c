package io.polyvisor.rebalance;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.polyvisor.api.v1alpha1.ApiGroup;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.MigrationMethod;
import io.polyvisor.api.v1alpha1.MigrationReason;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.cluster.ClusterState;
import io.polyvisor.cluster.HypervisorNode;
import io.polyvisor.cluster.NodeConditions;
import io.polyvisor.driver.Drivers;
import io.polyvisor.driver.HypervisorDriver;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.migration.MigrationLabels;
import io.polyvisor.migration.PlannedMigration;
import io.polyvisor.migration.VmMigrations;
import io.polyvisor.planner.RebalancePlan;
import io.polyvisor.planner.RebalancePlanner;
import io.polyvisor.planner.RebalanceSnapshot;
import io.polyvisor.vm.EventRecorder;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * Relieves overloaded nodes of a class whose spec.rebalancing is set. Keyed by HypervisorClass, it
 * looks at all the class's nodes at once every rebalancing.intervalSeconds (so that two nodes are
 * never relieved onto the same room), creates the Rebalance migrations the planner decides, each
 * to its target and with an Event on the node that says why with the numbers, and reports each
 * node in the condition {@value #CONDITION}: True (Relieving, or CannotRelieve with why) while it
 * is over its threshold or has moves under way, False (Balanced) once it is not. The migration
 * controller does the moving. Where the class sets a CPU threshold, each pass also reads the
 * guests' CPU time counters from the class's Ready nodes (see {@link CpuUse}); the guests of a node
 * that cannot be read keep the rate last measured for up to {@link CpuUse#FORGOTTEN_AFTER}, then
 * count their committed vCPUs only.
 */
public final class RebalanceReconciler implements Reconciler<HypervisorClass> {

  public static final String CONDITION = ApiGroup.GROUP + "/Rebalancing";
  private static final Logger log = LoggerFactory.getLogger(RebalanceReconciler.class);

  private final KubernetesClient client;
  private final ClusterState cluster;
  private final Clock clock;
  private final EventRecorder events;
  private final VmMigrations migrationsClient;
  private final Drivers drivers;
  /** By class: their passes come at their own intervals. */
  private final Map<String, CpuUse> cpuUse = new java.util.concurrent.ConcurrentHashMap<>();

  public RebalanceReconciler(KubernetesClient client, ClusterState cluster, Drivers drivers, Clock clock) {
    this.client = client;
    this.drivers = drivers;
    this.cluster = cluster;
    this.clock = clock;
    this.events = new EventRecorder(client);
    this.migrationsClient = new VmMigrations(client);
  }

  @Override
  public UpdateControl<HypervisorClass> reconcile(HypervisorClass hvc, Context<HypervisorClass> context) {
    MDC.put("resource", hvc.getMetadata().getName());
    try {
      Instant now = clock.instant();
      if (hvc.getSpec().rebalancing == null) {
        for (HypervisorNode node : cluster.nodesOf(hvc)) {
          report(node.name(), "False", "Disabled", "HypervisorClass " + hvc.getMetadata().getName() + " sets no spec.rebalancing", now, true);
        }
        return UpdateControl.noUpdate();
      }
      List<HypervisorNode> nodes = cluster.nodesOf(hvc);
      List<VirtualMachineMigration> migrations = cluster.migrations();
      cancelMovesOntoCordonedNodes(nodes, migrations);
      Set<String> relieving = nodes.stream()
          .filter(n -> node(n.name()).flatMap(k -> NodeConditions.find(k, CONDITION)).map(c -> "True".equals(c.getStatus())).orElse(false))
          .map(HypervisorNode::name).collect(Collectors.toSet());
      Map<String, Long> cpu = hvc.getSpec().rebalancing.cpuThresholdPercent == null ? Map.of() : measureCpu(hvc, nodes, now);
      RebalancePlan plan = RebalancePlanner.plan(
          new RebalanceSnapshot(hvc, nodes, cluster.virtualMachines(), migrations, relieving, cpu, now));
      for (RebalancePlan.Move move : plan.moves()) {
        VirtualMachineMigration migration = PlannedMigration.of(move.vm(), MigrationReason.Rebalance, move.source(), move.target(),
            MigrationMethod.Live, UUID.randomUUID().toString().substring(0, 5));
        client.resource(migration).create();
        log.info("{}", move.why());
        node(move.source()).ifPresent(n -> events.normal(n, "Rebalance", move.why() + " (migration " + migration.getMetadata().getName() + ")"));
      }
      for (RebalancePlan.Verdict verdict : plan.nodes()) {
        switch (verdict.state()) {
          case Balanced -> report(verdict.node(), "False", "Balanced", verdict.message(), now, true);
          case Relieving -> report(verdict.node(), "True", "Relieving", verdict.message(), now, false);
          case CannotRelieve -> report(verdict.node(), "True", "CannotRelieve", verdict.message(), now, false);
        }
      }
      int seconds = hvc.getSpec().rebalancing.intervalSeconds == null ? 30 : hvc.getSpec().rebalancing.intervalSeconds;
      return UpdateControl.<HypervisorClass>noUpdate().rescheduleAfter(Duration.ofSeconds(seconds));
    } finally {
      MDC.remove("resource");
    }
  }

  /** Reads the guests' CPU time on each Ready node of the class; the rates measured so far, by VM uid. */
  private Map<String, Long> measureCpu(HypervisorClass hvc, List<HypervisorNode> nodes, Instant now) {
    Optional<HypervisorDriver> driver = drivers.get(hvc.getSpec().driver);
    CpuUse use = cpuUse.computeIfAbsent(hvc.getMetadata().getName(), c -> new CpuUse());
    for (HypervisorNode node : nodes) {
      if (driver.isEmpty() || !node.ready()) {
        continue;
      }
      try {
        Instant at = clock.instant(); // before the call: what it returns is as of its start, at the latest
        use.read(node.name(), driver.get().cpuTimes(node.host()), at);
      } catch (HypervisorException e) {
        log.info("cannot read the guests' CPU time on {}: they keep their last measured rate: {}", node.name(), e.getMessage());
      }
    }
    return use.rates(now);
  }

  /**
   * A rebalance decided before its target was cordoned no longer has a place there: cancelled
   * (a queued one ends Aborted; a running one is aborted, its guest staying on its source), so
   * that the node being evacuated receives nothing more.
   */
  private void cancelMovesOntoCordonedNodes(List<HypervisorNode> nodes, List<VirtualMachineMigration> migrations) {
    Set<String> cordoned = nodes.stream().filter(HypervisorNode::cordoned).map(HypervisorNode::name).collect(Collectors.toSet());
    for (VirtualMachineMigration m : migrations) {
      boolean ours = m.getMetadata().getLabels() != null && m.getMetadata().getLabels().containsKey(MigrationLabels.REBALANCED_NODE);
      String target = m.getSpec().targetNode;
      if (ours && ClusterState.isActive(m) && target != null && cordoned.contains(target)
          && migrationsClient.cancel(m, "its target " + target + " was cordoned")) {
        log.info("cancelled rebalance {}/{}: its target {} was cordoned", m.getMetadata().getNamespace(), m.getMetadata().getName(), target);
      }
    }
  }

  /**
   * Sets the node's condition when its reason changes (and its message, while True); a new
   * CannotRelieve also says so in a warning Event.
   *
   * @param onlyIfPresent write nothing on a node that never had the condition (a balanced node stays quiet)
   */
  private void report(String name, String status, String reason, String message, Instant now, boolean onlyIfPresent) {
    Optional<Node> node = node(name);
    if (node.isEmpty()) {
      return;
    }
    Optional<NodeCondition> previous = NodeConditions.find(node.get(), CONDITION);
    if (previous.isEmpty() && onlyIfPresent) {
      return;
    }
    boolean reasonChanged = previous.isEmpty() || !reason.equals(previous.get().getReason());
    if (reasonChanged || ("True".equals(status) && !message.equals(previous.get().getMessage()))) {
      NodeConditions.set(client, node.get(), CONDITION, status, reason, message, now);
    }
    if (reasonChanged) {
      if ("CannotRelieve".equals(reason)) {
        events.warning(node.get(), "RebalanceBlocked", message);
      } else if ("Balanced".equals(reason)) {
        events.normal(node.get(), "Rebalanced", message);
      }
    }
  }

  private Optional<Node> node(String name) {
    return cluster.node(name);
  }
}
