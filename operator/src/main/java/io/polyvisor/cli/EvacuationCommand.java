package io.polyvisor.cli;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachineMigrationStatus;
import io.polyvisor.cluster.NodeConditions;
import io.polyvisor.cluster.LiveClusterState;
import io.polyvisor.evacuation.DrainPlans;
import io.polyvisor.evacuation.EvacuationReconciler;
import io.polyvisor.migration.MigrationLabels;
import io.polyvisor.planner.Bytes;
import io.polyvisor.planner.DrainPlan;
import java.io.PrintWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code kubectl polyvisor evacuation NODE}: the evacuation of a cordoned node as it goes, per VM
 * (phase, percent, bytes, downtime), printed again whenever it changes, until it completes.
 */
@Command(name = "evacuation", description = "Watch the evacuation of a cordoned NODE until it completes: per VM its migration's"
    + " phase, progress, bytes and downtime, or why it waits. Exits 0 once it completed, 1 if the node is uncordoned first.")
final class EvacuationCommand implements Callable<Integer> {

  @ParentCommand KubectlPolyvisor root;
  @Spec CommandSpec spec;

  @Parameters(paramLabel = "NODE", description = "The cordoned node.")
  String nodeName;

  @Option(names = "--once", description = "Print the state once and exit, instead of watching until the evacuation completes.")
  boolean once;

  @Option(names = "--interval", paramLabel = "SECONDS", description = "How often to look again while watching (default 2).")
  double interval = 2;

  @Override
  public Integer call() throws InterruptedException {
    if (!(interval > 0)) {
      throw new KubectlPolyvisor.UserError("--interval must be a positive number of seconds, not " + interval);
    }
    PrintWriter out = spec.commandLine().getOut();
    String last = null;
    while (true) {
      Node node = Lookups.node(root.client(), nodeName);
      HypervisorClass hvc = Lookups.classOf(root.client(), node);
      // False (NotCordoned) is what a past evacuation left: this one has not been looked at yet.
      Optional<NodeCondition> condition = condition(node).filter(c -> "True".equals(c.getStatus()));
      if (!Lookups.cordoned(node)) {
        if (last == null) {
          throw new KubectlPolyvisor.UserError("node \"" + nodeName + "\" is not cordoned, so it is not being evacuated"
              + " (kubectl polyvisor plan " + nodeName + " shows what a cordon would do)");
        }
        // Not completed: a script that waits on this to go on with maintenance must not go on.
        spec.commandLine().getErr().println("error: node " + nodeName + " was uncordoned: the evacuation stopped before it completed");
        return 1;
      }
      String now = render(node, hvc, condition);
      if (!now.equals(last)) {
        out.print(now);
        out.flush();
        last = now;
      }
      boolean completed = condition.map(c -> "Completed".equals(c.getReason())).orElse(false);
      if (completed || once) {
        return 0;
      }
      Thread.sleep((long) (interval * 1000));
    }
  }

  private String render(Node node, HypervisorClass hvc, Optional<NodeCondition> condition) {
    StringBuilder text = new StringBuilder();
    Instant now = Instant.now();
    Instant since = condition.filter(c -> "True".equals(c.getStatus())).map(c -> Instant.parse(c.getLastTransitionTime())).orElse(now);
    Optional<String> planned = eventSince("EvacuationPlanned", since);
    text.append("Evacuation of ").append(nodeName).append(": ").append(condition.map(NodeCondition::getReason).orElse("Starting"))
        .append(condition.map(c -> " - " + c.getMessage()).orElse("")).append('\n');
    text.append("Since ").append(since).append(planned.map(p -> "; " + p).orElse("")).append('\n');

    // Per VM: its newest evacuation migration from this node, else what the plan says it waits for.
    Map<String, VirtualMachineMigration> newest = new LinkedHashMap<>();
    root.client().resources(VirtualMachineMigration.class).inAnyNamespace().withLabel(MigrationLabels.EVACUATED_NODE, nodeName)
        .list().getItems().stream()
        .filter(m -> !Instant.parse(m.getMetadata().getCreationTimestamp()).isBefore(since.minusSeconds(1)))
        .sorted(Comparator.comparing(m -> m.getMetadata().getCreationTimestamp()))
        .forEach(m -> newest.put(m.getMetadata().getNamespace() + "/" + m.getSpec().vmName, m));
    Table table = new Table("VM", "MIGRATION", "PHASE", "TARGET", "PROGRESS", "TRANSFERRED", "DOWNTIME", "WHY");
    newest.forEach((vm, m) -> {
      VirtualMachineMigrationStatus s = m.getStatus() == null ? new VirtualMachineMigrationStatus() : m.getStatus();
      table.row(vm, m.getMetadata().getName(), s.phase == null ? "Pending" : s.phase, s.targetNode != null ? s.targetNode : m.getSpec().targetNode,
          s.progressPercent == null ? null : s.progressPercent + "%",
          s.dataProcessedBytes == null ? null : Bytes.format(s.dataProcessedBytes) + (s.dataTotalBytes == null ? "" : "/" + Bytes.format(s.dataTotalBytes)),
          s.downtimeMillis == null ? null : s.downtimeMillis + "ms",
          s.phase != null && s.phase.isFinal() && s.phase != io.polyvisor.api.v1alpha1.MigrationPhase.Succeeded ? s.message : null);
    });
    if (!condition.map(c -> "Completed".equals(c.getReason())).orElse(false)) {
      DrainPlan plan = DrainPlans.of(new LiveClusterState(root.client()), hvc, nodeName, true, since, now);
      for (DrainPlan.VmMove move : plan.vms()) {
        VirtualMachineMigration m = newest.get(move.vm());
        boolean underWay = m != null && (m.getStatus() == null || m.getStatus().phase == null || !m.getStatus().phase.isFinal());
        if (!underWay && !"Moving".equals(move.action()) && !"Leaving".equals(move.action())) {
          String phase = switch (move.action()) {
            case "Stays" -> "Blocked";
            case "Waits" -> "Waiting";
            case "Arriving" -> "Arriving";
            default -> "Queued";
          };
          table.row(move.vm(), null, phase, move.target(), null, null, null, move.why());
        }
      }
    }
    java.io.StringWriter buffer = new java.io.StringWriter();
    table.print(new PrintWriter(buffer));
    text.append(buffer);
    if (condition.map(c -> "Completed".equals(c.getReason())).orElse(false)) {
      // The condition stays True from InProgress to Completed: its transition is the start, its heartbeat the end.
      Instant completed = Instant.parse(condition.get().getLastHeartbeatTime());
      text.append("Completed: ").append(eventSince("EvacuationDuration", since)
          .orElse("the evacuation took " + Duration.between(since, completed).toSeconds() + " s")).append(".\n");
    }
    text.append('\n');
    return text.toString();
  }

  /** The message of the newest Event of that reason about the node since the evacuation began. */
  private Optional<String> eventSince(String reason, Instant since) {
    return root.client().v1().events().inNamespace("default").list().getItems().stream()
        .filter(e -> "Node".equals(e.getInvolvedObject().getKind()) && nodeName.equals(e.getInvolvedObject().getName()))
        .filter(e -> reason.equals(e.getReason()) && e.getLastTimestamp() != null)
        .filter(e -> !Instant.parse(e.getLastTimestamp()).isBefore(since.minusSeconds(1)))
        .max(Comparator.comparing(e -> Instant.parse(e.getLastTimestamp())))
        .map(io.fabric8.kubernetes.api.model.Event::getMessage);
  }

  private static Optional<NodeCondition> condition(Node node) {
    return NodeConditions.find(node, EvacuationReconciler.CONDITION);
  }
}
