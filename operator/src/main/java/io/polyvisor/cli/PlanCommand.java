package io.polyvisor.cli;

import io.fabric8.kubernetes.api.model.Node;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.cluster.NodeConditions;
import io.polyvisor.cluster.LiveClusterState;
import io.polyvisor.evacuation.DrainPlans;
import io.polyvisor.evacuation.EvacuationReconciler;
import io.polyvisor.planner.Bytes;
import io.polyvisor.planner.DrainPlan;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code kubectl polyvisor plan NODE}: what cordoning the node now would do, changing nothing. */
@Command(name = "plan", description = "Show what cordoning NODE now would do, without changing anything: each VM's target or why it"
    + " stays, the parallelism, the expected time and whether the node would end empty.")
final class PlanCommand implements Callable<Integer> {

  enum Format { table, json, yaml }

  @ParentCommand KubectlPolyvisor root;
  @Spec CommandSpec spec;

  @Parameters(paramLabel = "NODE", description = "The node to plan for.")
  String nodeName;

  @Option(names = {"-o", "--output"}, description = "table (default), json or yaml.", defaultValue = "table")
  Format format;

  @Override
  public Integer call() {
    Node node = Lookups.node(root.client(), nodeName);
    HypervisorClass hvc = Lookups.classOf(root.client(), node);
    boolean cordoned = Lookups.cordoned(node);
    Instant now = Instant.now();
    Instant since = !cordoned ? now : evacuationSince(node).orElse(now);
    DrainPlan plan = DrainPlans.of(new LiveClusterState(root.client()), hvc, nodeName, cordoned, since, now);
    PrintWriter out = spec.commandLine().getOut();
    switch (format) {
      case json -> out.println(root.client().getKubernetesSerialization().asJson(plan));
      case yaml -> out.print(root.client().getKubernetesSerialization().asYaml(plan));
      default -> print(plan, out);
    }
    return 0;
  }

  static java.util.Optional<Instant> evacuationSince(Node node) {
    return NodeConditions.find(node, EvacuationReconciler.CONDITION).filter(c -> "True".equals(c.getStatus()))
        .map(c -> Instant.parse(c.getLastTransitionTime()));
  }

  private static void print(DrainPlan plan, PrintWriter out) {
    out.println("Drain plan for node " + plan.node() + " (class " + plan.hypervisorClass() + ")"
        + (plan.cordoned() ? ", cordoned: what its evacuation does from now" : ", if it were cordoned now") + ":");
    out.println();
    if (plan.vms().isEmpty()) {
      out.println("No VM of ours runs on " + plan.node() + ".");
    } else {
      Table table = new Table("VM", "ACTION", "TARGET", "METHOD", "TRANSFER", "STARTS", "TAKES", "WHY");
      for (DrainPlan.VmMove m : plan.vms()) {
        table.row(m.vm(), m.action(), m.target(), m.method(), m.bytes() == null ? null : Bytes.format(m.bytes()),
            m.startsAtSeconds() == null ? null : "+" + seconds(m.startsAtSeconds()), m.seconds() == null ? null : seconds(m.seconds()),
            m.why());
      }
      table.print(out);
    }
    out.println();
    out.println("Parallelism: " + plan.parallelism() + ".");
    out.println("Expected time: " + seconds(plan.expectedSeconds()) + " at " + String.format(Locale.ROOT, "%.1f", plan.throughput().mibPerSecond())
        + " MiB/s, " + plan.throughput().basis() + ".");
    out.println("How: each move transfers the VM's memory and the disks not on shared storage, at that rate; the moves run in the"
        + " order above, that many at once. The evacuation's end Event (EvacuationDuration) says how long it really took.");
    List<String> staying = plan.vms().stream().filter(m -> "Stays".equals(m.action())).map(DrainPlan.VmMove::vm).toList();
    out.println(staying.isEmpty() ? "The node would end empty."
        : "The node would not end empty: " + staying.size() + " VM" + (staying.size() == 1 ? "" : "s") + " would stay ("
            + String.join(", ", staying) + ").");
  }

  static String seconds(double seconds) {
    return seconds < 10 ? String.format(Locale.ROOT, "%.1fs", seconds) : Math.round(seconds) + "s";
  }
}
