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
import io.polyvisor.api.v1alpha1.EvictionStrategy;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.MigrationMethod;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.MigrationPolicy;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.cluster.ClusterState;
import io.polyvisor.cluster.HypervisorNode;
import io.polyvisor.migration.MigrationLabels;
import io.polyvisor.migration.VmMigrations;
import io.polyvisor.vm.EventRecorder;
import io.polyvisor.vm.MemoryRequest;
import io.polyvisor.vm.Placement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
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
  /** How long after a successful move a VM whose status still names this node is taken as gone. */
  private static final Duration JUST_LEFT = Duration.ofSeconds(60);

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
      List<VirtualMachine> all = cluster.virtualMachines();
      List<VirtualMachine> here = all.stream()
          .filter(vm -> vm.getStatus() != null && name.equals(vm.getStatus().nodeName))
          .filter(vm -> hvc.getMetadata().getName().equals(vm.getSpec().hypervisorClassName))
          .filter(vm -> vm.getStatus().phase == VirtualMachinePhase.Running || vm.getStatus().phase == VirtualMachinePhase.Migrating
              || vm.getStatus().phase == VirtualMachinePhase.Paused)
          .sorted(Comparator.comparing((VirtualMachine vm) -> vm.getMetadata().getNamespace()).thenComparing(vm -> vm.getMetadata().getName()))
          .toList();
      List<VirtualMachineMigration> ours = evacuationMigrations();
      Set<String> existing = all.stream().map(vm -> vm.getMetadata().getNamespace() + "/" + vm.getMetadata().getName())
          .collect(Collectors.toSet());
      long moved = ours.stream().filter(m -> m.getStatus() != null && m.getStatus().phase == MigrationPhase.Succeeded)
          .filter(m -> existing.contains(m.getMetadata().getNamespace() + "/" + m.getSpec().vmName))
          .filter(m -> !Instant.parse(m.getMetadata().getCreationTimestamp()).isBefore(since.minusSeconds(1))).count();
      MigrationPolicy policy = hvc.getSpec().migration == null ? new MigrationPolicy() : hvc.getSpec().migration;
      int outboundCap = policy.parallelOutboundPerNode == null ? 2 : policy.parallelOutboundPerNode;
      int clusterCap = policy.parallelPerCluster == null ? 5 : policy.parallelPerCluster;
      long outbound = ours.stream().filter(ClusterState::isActive).count();
      long clusterWide = activeMigrationsOfClass(hvc, all);

      int running = 0;
      int queued = 0;
      Instant nextRetry = null;
      List<String> blocked = new ArrayList<>();
      Map<String, Long> reserved = MemoryRequest.reservedByNode(all, null);
      for (VirtualMachine vm : here) {
        String vmName = vm.getMetadata().getNamespace() + "/" + vm.getMetadata().getName();
        EvictionStrategy strategy = vm.getSpec().evictionStrategy != null ? vm.getSpec().evictionStrategy
            : hvc.getSpec().defaultEvictionStrategy == null ? EvictionStrategy.LiveMigrate : hvc.getSpec().defaultEvictionStrategy;
        if (strategy == EvictionStrategy.None) {
          blocked.add(vmName + ": evictionStrategy None");
          continue;
        }
        if (vm.getStatus().phase == VirtualMachinePhase.Paused) {
          // Its guest is still on the node, but only a running guest can move; a person resumes
          // or stops it.
          blocked.add(vmName + ": the guest is paused or saved, not running; resume it or stop it");
          continue;
        }
        // Read after the VM, so that a migration that ended since shows here as ended.
        List<VirtualMachineMigration> itsMigrations = migrationsOf(vm);
        MigrationMethod method = strategy == EvictionStrategy.Shutdown
            || (strategy == EvictionStrategy.LiveMigrateOrShutdown && liveMigrationFailed(itsMigrations, since))
            ? MigrationMethod.Restart : MigrationMethod.Live;
        if (itsMigrations.stream().anyMatch(ClusterState::isActive)) {
          running++;
          continue;
        }
        if (justLeft(itsMigrations)) {
          continue; // moved already; its VM reconciler has not recorded the new node yet
        }
        if (EvacuationRetry.decide(itsMigrations, name, since, now) instanceof EvacuationRetry.Wait wait) {
          nextRetry = nextRetry == null || wait.retryAt().isBefore(nextRetry) ? wait.retryAt() : nextRetry;
          Optional<String> blocking = wait.blocking(now);
          if (blocking.isPresent()) {
            blocked.add(vmName + ": " + blocking.get());
          } else {
            queued++;
          }
          continue;
        }
        Placement.Decision decision = Placement.place(vm, hvc, cluster.nodesOf(hvc), reserved, Set.of(name));
        if (decision instanceof Placement.Unschedulable u) {
          blocked.add(vmName + ": " + u.message());
          continue;
        }
        if (outbound >= outboundCap || clusterWide >= clusterCap) {
          queued++;
          continue;
        }
        createMigration(vm, method);
        reserved.merge(((Placement.Placed) decision).node().name(), MemoryRequest.reserved(vm), Long::sum);
        outbound++;
        clusterWide++;
        running++;
      }

      long total = moved + here.size();
      EvacuationMetrics.record(name, here.size(), running, queued, blocked.size());
      String reason;
      String message;
      if (here.isEmpty()) {
        reason = "Completed";
        message = "all " + moved + " VMs moved; no VM of ours runs on " + name;
      } else {
        reason = running == 0 && queued == 0 ? "Blocked" : "InProgress";
        message = moved + " of " + total + " VMs moved, " + running + " running, " + queued + " queued, " + blocked.size() + " blocked"
            + (blocked.isEmpty() ? "" : ": " + String.join("; ", blocked));
      }
      Optional<NodeCondition> previous = condition();
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
      Duration again = nextRetry == null ? PERIOD : Duration.between(now, nextRetry);
      return UpdateControl.<Node>noUpdate().rescheduleAfter(Math.max(1, Math.min(PERIOD.toMillis(), again.toMillis())));
    }

    private void createMigration(VirtualMachine vm, MigrationMethod method) {
      VirtualMachineMigration migration =
          EvacuationMigration.of(vm, name, method, UUID.randomUUID().toString().substring(0, 5));
      client.resource(migration).create();
      log.info("evacuating {}/{} with {} migration {}", vm.getMetadata().getNamespace(), vm.getMetadata().getName(), method,
          migration.getMetadata().getName());
    }

    /**
     * Whether the VM's evacuation migration from this node just succeeded: the VM's status names
     * its new node only once its own reconciler has run, and a second migration must not start
     * in that window.
     */
    private boolean justLeft(List<VirtualMachineMigration> migrations) {
      return migrations.stream()
          .filter(m -> name.equals(m.getStatus() == null ? null : m.getStatus().sourceNode))
          .filter(m -> m.getStatus() != null && m.getStatus().phase == MigrationPhase.Succeeded && m.getStatus().completionTime != null)
          .anyMatch(m -> Duration.between(Instant.parse(m.getStatus().completionTime), now).compareTo(JUST_LEFT) < 0);
    }

    /** Whether a live evacuation migration of the VM from this node failed since the node was cordoned. */
    private boolean liveMigrationFailed(List<VirtualMachineMigration> migrations, Instant since) {
      return migrations.stream()
          .filter(m -> m.getMetadata().getLabels() != null && name.equals(m.getMetadata().getLabels().get(MigrationLabels.EVACUATED_NODE)))
          .filter(m -> m.getSpec().method != MigrationMethod.Restart)
          .filter(m -> !Instant.parse(m.getMetadata().getCreationTimestamp()).isBefore(since.minusSeconds(1)))
          .anyMatch(m -> m.getStatus() != null && m.getStatus().phase == MigrationPhase.Failed);
    }

    private List<VirtualMachineMigration> migrationsOf(VirtualMachine vm) {
      return client.resources(VirtualMachineMigration.class).inNamespace(vm.getMetadata().getNamespace()).list().getItems()
          .stream().filter(m -> vm.getMetadata().getName().equals(m.getSpec().vmName)).toList();
    }

    private long activeMigrationsOfClass(HypervisorClass hvc, List<VirtualMachine> all) {
      Set<String> ofClass = all.stream().filter(vm -> hvc.getMetadata().getName().equals(vm.getSpec().hypervisorClassName))
          .map(vm -> vm.getMetadata().getNamespace() + "/" + vm.getMetadata().getName()).collect(Collectors.toSet());
      return client.resources(VirtualMachineMigration.class).inAnyNamespace().list().getItems().stream()
          .filter(ClusterState::isActive)
          .filter(m -> ofClass.contains(m.getMetadata().getNamespace() + "/" + m.getSpec().vmName))
          .count();
    }

    private Optional<HypervisorClass> classOf() {
      Map<String, String> labels = node.getMetadata().getLabels() == null ? Map.of() : node.getMetadata().getLabels();
      return client.resources(HypervisorClass.class).list().getItems().stream()
          .filter(c -> c.getSpec().nodeSelector != null && c.getSpec().nodeSelector.entrySet().stream()
              .allMatch(e -> e.getValue().equals(labels.get(e.getKey()))))
          .findFirst();
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
