package io.polyvisor.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.Host;
import io.polyvisor.evacuation.EvacuationReconciler;
import io.polyvisor.testing.ClassTestbed;
import io.polyvisor.testing.NodeRegistration;
import io.polyvisor.testing.OperatorProcess;
import io.polyvisor.testing.RealApiServer;
import io.polyvisor.testing.TestManifests;
import io.polyvisor.testing.Virsh;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Benchmark: how long the operator takes to empty a cordoned node, from {@code kubectl cordon} to
 * the node's Evacuation condition saying Completed, against a floor measured in the same run on
 * the same nodes: the same migrations started directly with {@code virsh migrate} (peer to peer,
 * the operator's flags, as many at once as the class's parallelOutboundPerNode) while no operator
 * runs. Both move every guest from one node to one other, so that only the operator's own cost
 * separates them. Real libvirtd nodes, real QEMU counter guests with a 4 MiB qcow2 disk that is
 * copied with the memory.
 */
class EvacuationBenchmarkIT {

  private static final String CLASS = "bench-evac";
  private static final String STORAGE = CLASS + "-local";
  private static final List<String> NODES = List.of("bench-1", "bench-2", "bench-3");
  /** The class's default parallelOutboundPerNode, which the floor runs at too. */
  private static final int PARALLEL = 2;
  private static final Pattern DOWNTIME = Pattern.compile("Total downtime:\\s+(\\d+)\\s+ms");

  @TempDir static Path work;
  private static ClassTestbed testbed;
  private static KubernetesClient client;
  private static OperatorProcess operator;
  private static Map<String, String> operatorEnvironment;

  @BeforeAll
  static void start() throws Exception {
    operatorEnvironment = Map.of("POLYVISOR_CONSOLE_LOG_DIR", work.toString());
    // 16 one-vCPU guests on a node that declares 2 CPUs: the class lets each CPU carry 16.
    testbed = ClassTestbed.start(work, CLASS, STORAGE, NODES, "8Gi", hvc -> hvc.getSpec().cpuOvercommitRatio = 16,
        operatorEnvironment);
    client = testbed.client;
    operator = testbed.operator;
  }

  @AfterAll
  static void stop() {
    if (operator != null) {
      operator.close();
    }
    if (testbed != null) {
      testbed.close();
    }
  }

  @Test
  void evacuationAgainstTheSameMigrationsRunDirectly() throws Exception {
    List<Round> rounds = BenchReport.full() ? List.of(new Round(8, "64Mi"), new Round(16, "128Mi")) : List.of(new Round(2, "64Mi"));
    List<Map<String, Object>> results = new ArrayList<>();
    List<List<String>> rows = new ArrayList<>();
    for (Round round : rounds) {
      Result result = run(round);
      for (String node : NODES) {
        assertThat(Virsh.run(host(node), "list", "--all", "--name").strip()).as("guests left on %s", node).isEmpty();
      }
      System.out.println("evacuation of " + round.count() + " × " + round.memory() + ": " + result.summary());
      results.add(result.figures());
      rows.add(result.row());
    }
    BenchReport.write("evacuation", Map.of("rounds", results), """
        ## Evacuation

        From `kubectl cordon` to the node's Evacuation condition `Completed`, against the floor of the same
        migrations started directly with `virsh migrate --live --p2p --persistent --undefinesource
        --abort-on-error --copy-storage-all`, %d at a time (the class's default parallelOutboundPerNode), while no
        operator runs. Counter guests with a 4 MiB qcow2 disk, every one from one node to one other.

        """.formatted(PARALLEL) + BenchReport.table(
            List.of("guests", "operator (s)", "floor (s)", "ratio", "operator move (s, mean)", "floor move (s, mean)",
                "operator downtime (ms, max)", "floor downtime (ms, max)", "idle slot-seconds"),
            rows));
  }

  private Result run(Round round) throws Exception {
    String namespace = RealApiServer.newNamespace("bench");
    List<VirtualMachine> vms = new ArrayList<>();
    try {
      return measure(round, namespace, vms);
    } finally {
      // An operator again (the floor stops it), which finds the guests wherever the round left
      // them and removes them with their VMs, so that nothing of the round outlives it.
      if (!operator.alive()) {
        operator = OperatorProcess.start(work.resolve("operator"), operatorEnvironment);
      }
      client.resources(VirtualMachine.class).inNamespace(namespace).delete();
      await().atMost(Duration.ofSeconds(120))
          .until(() -> client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems().isEmpty());
      NODES.forEach(n -> cordon(n, false));
    }
  }

  private Result measure(Round round, String namespace, List<VirtualMachine> vms) throws Exception {
    vms.addAll(vmsOn("bench-1", namespace, round));
    // The operator's evacuation: bench-1 to bench-2 only (bench-3 stays cordoned).
    cordon("bench-2", false);
    Instant cordoned = Instant.now();
    cordon("bench-1", true);
    await().atMost(Duration.ofSeconds(60L + 15L * round.count())).pollInterval(Duration.ofMillis(100))
        .until(() -> "Completed".equals(evacuationReason(client, "bench-1")));
    Duration evacuation = Duration.between(cordoned, Instant.now());
    List<Move> operatorMoves = client.resources(VirtualMachineMigration.class).inNamespace(namespace).list().getItems().stream()
        .map(m -> {
          assertThat(m.getStatus().phase).as(m.getMetadata().getName()).isEqualTo(MigrationPhase.Succeeded);
          return new Move(Instant.parse(m.getStatus().startTime), Instant.parse(m.getStatus().completionTime),
              Optional.ofNullable(m.getStatus().downtimeMillis));
        }).toList();
    for (VirtualMachine vm : vms) {
      assertOnlyOn(uid(vm), "bench-2");
    }
    System.out.println("the operator emptied bench-1 of " + round.count() + " guests in " + evacuation.toMillis() + " ms");

    // The floor: the same moves, bench-2 to bench-3, with no operator running.
    operator.close();
    List<Move> floorMoves = migrateDirectly(vms.stream().map(EvacuationBenchmarkIT::uid).toList(), host("bench-2"), host("bench-3"));
    for (VirtualMachine vm : vms) {
      assertOnlyOn(uid(vm), "bench-3");
    }
    Duration floor = Duration.between(floorMoves.stream().map(Move::start).min(Comparator.naturalOrder()).orElseThrow(),
        floorMoves.stream().map(Move::end).max(Comparator.naturalOrder()).orElseThrow());

    return new Result(round, evacuation, operatorMoves, floor, floorMoves);
  }

  /** Creates the round's VMs and waits until each runs on {@code node} and its guest counts: the other nodes are cordoned meanwhile. */
  private List<VirtualMachine> vmsOn(String node, String namespace, Round round) {
    NODES.stream().filter(n -> !n.equals(node)).forEach(n -> cordon(n, true));
    List<VirtualMachine> vms = new ArrayList<>();
    for (int i = 1; i <= round.count(); i++) {
      String manifest = TestManifests.counterVm("g" + i, CLASS, "Always", round.memory(), STORAGE, testbed.image);
      vms.add(client.resource(client.getKubernetesSerialization().unmarshal(manifest, VirtualMachine.class)).inNamespace(namespace).create());
    }
    for (VirtualMachine vm : vms) {
      await().atMost(Duration.ofSeconds(60L + 10L * round.count())).until(() -> {
        VirtualMachine now = client.resource(vm).get();
        return now.getStatus() != null && now.getStatus().phase == VirtualMachinePhase.Running && node.equals(now.getStatus().nodeName);
      });
      Path console = work.resolve(namespace + "_" + vm.getMetadata().getName() + ".log");
      await().atMost(Duration.ofSeconds(60)).until(() -> Files.exists(console) && Files.size(console) > 20);
    }
    return vms;
  }

  /** Migrates the guests from {@code source} to {@code target} with virsh, {@link #PARALLEL} at a time. */
  private static List<Move> migrateDirectly(List<String> uids, Host source, Host target) throws Exception {
    replicatePools(source, target);
    String migrateUri = "tcp://" + java.net.URI.create(target.endpoint()).getHost();
    ExecutorService slots = Executors.newFixedThreadPool(PARALLEL);
    try {
      List<Future<Move>> moves = new ArrayList<>();
      for (String uid : uids) {
        moves.add(slots.submit(() -> {
          Instant start = Instant.now();
          Virsh.run(source, "migrate", "--live", "--p2p", "--persistent", "--undefinesource", "--abort-on-error",
              "--copy-storage-all", "--migrateuri", migrateUri, uid, target.endpoint());
          Instant end = Instant.now();
          Matcher downtime = DOWNTIME.matcher(Virsh.run(target, "domjobinfo", "--completed", uid));
          return new Move(start, end, downtime.find() ? Optional.of(Long.parseLong(downtime.group(1))) : Optional.empty());
        }));
      }
      List<Move> done = new ArrayList<>();
      for (Future<Move> move : moves) {
        done.add(move.get(5, java.util.concurrent.TimeUnit.MINUTES));
      }
      return done;
    } finally {
      slots.shutdownNow();
    }
  }

  /**
   * Defines on {@code target} the storage pools of {@code source} that it lacks, as the operator
   * does before its first move to a node: libvirt creates a copied disk's volume in the pool of the
   * same path. Done before the floor's clock starts.
   */
  private static void replicatePools(Host source, Host target) throws Exception {
    List<String> present = Virsh.run(target, "pool-list", "--all", "--name").lines().map(String::trim).filter(l -> !l.isEmpty()).toList();
    for (String pool : Virsh.run(source, "pool-list", "--name").lines().map(String::trim).filter(l -> !l.isEmpty()).toList()) {
      if (!present.contains(pool)) {
        Path xml = Files.writeString(work.resolve("pool-" + pool + ".xml"), Virsh.run(source, "pool-dumpxml", pool));
        Virsh.run(target, "pool-define", xml.toString());
        Virsh.run(target, "pool-build", pool);
        Virsh.run(target, "pool-start", pool);
      }
    }
  }

  private static void assertOnlyOn(String uid, String node) {
    for (String other : NODES) {
      Optional<GuestInfo> guest = testbed.libvirt.find(host(other), uid);
      if (other.equals(node)) {
        assertThat(guest).as("guest %s on %s", uid, other).map(GuestInfo::state).contains(GuestState.RUNNING);
      } else {
        assertThat(guest).as("guest %s on %s", uid, other).isEmpty();
      }
    }
  }

  /** The reason of the node's Evacuation condition, or "" while it has none. */
  static String evacuationReason(KubernetesClient client, String node) {
    return client.nodes().withName(node).get().getStatus().getConditions().stream()
        .filter(c -> EvacuationReconciler.CONDITION.equals(c.getType())).findFirst().map(c -> c.getReason()).orElse("");
  }

  private static void cordon(String node, boolean cordoned) {
    NodeRegistration.cordon(client, node, cordoned);
  }

  private static Host host(String node) {
    return testbed.nodes.host(node);
  }

  private static String uid(VirtualMachine vm) {
    return vm.getMetadata().getUid();
  }

  private record Round(int count, String memory) {}

  private record Move(Instant start, Instant end, Optional<Long> downtimeMillis) {
    double seconds() {
      return Duration.between(start, end).toMillis() / 1000.0;
    }
  }

  private record Result(Round round, Duration evacuation, List<Move> operatorMoves, Duration floor, List<Move> floorMoves) {

    double ratio() {
      return (double) evacuation.toMillis() / floor.toMillis();
    }

    Map<String, Object> figures() {
      Map<String, Object> figures = new LinkedHashMap<>();
      figures.put("guests", round.count());
      figures.put("guestMemory", round.memory());
      figures.put("parallel", PARALLEL);
      figures.put("operatorSeconds", evacuation.toMillis() / 1000.0);
      figures.put("floorSeconds", floor.toMillis() / 1000.0);
      figures.put("ratio", round2(ratio()));
      figures.put("operatorMoves", moves(operatorMoves));
      figures.put("floorMoves", moves(floorMoves));
      figures.put("operatorIdleSlotSeconds", idleSlotSeconds(operatorMoves));
      figures.put("floorIdleSlotSeconds", idleSlotSeconds(floorMoves));
      return figures;
    }

    List<String> row() {
      return List.of(String.valueOf(round.count()) + " × " + round.memory(), seconds(evacuation), seconds(floor),
          String.format(Locale.ROOT, "%.2f", ratio()),
          String.format(Locale.ROOT, "%.1f", meanSeconds(operatorMoves)), String.format(Locale.ROOT, "%.1f", meanSeconds(floorMoves)),
          maxDowntime(operatorMoves), maxDowntime(floorMoves), String.format(Locale.ROOT, "%.1f", idleSlotSeconds(operatorMoves)));
    }

    String summary() {
      return seconds(evacuation) + " s against a floor of " + seconds(floor) + " s: ratio " + String.format(Locale.ROOT, "%.2f", ratio())
          + "; moves " + String.format(Locale.ROOT, "%.1f", meanSeconds(operatorMoves)) + " s on average (floor "
          + String.format(Locale.ROOT, "%.1f", meanSeconds(floorMoves)) + " s); downtime at most " + maxDowntime(operatorMoves)
          + " ms (floor " + maxDowntime(floorMoves) + " ms); slots idle " + String.format(Locale.ROOT, "%.1f", idleSlotSeconds(operatorMoves))
          + " slot-seconds while moves waited";
    }

    private static List<Map<String, Object>> moves(List<Move> moves) {
      Instant first = moves.stream().map(Move::start).min(Comparator.naturalOrder()).orElseThrow();
      return moves.stream().sorted(Comparator.comparing(Move::start)).map(m -> {
        Map<String, Object> move = new LinkedHashMap<>();
        move.put("startsAtSeconds", Duration.between(first, m.start()).toMillis() / 1000.0);
        move.put("seconds", m.seconds());
        move.put("downtimeMillis", m.downtimeMillis().orElse(null));
        return move;
      }).toList();
    }

    /**
     * The slot time lost between moves: from the first start to the last start, how long fewer
     * than {@link #PARALLEL} moves ran while some had still to start.
     */
    private static double idleSlotSeconds(List<Move> moves) {
      List<Instant> starts = moves.stream().map(Move::start).sorted().toList();
      Instant last = starts.get(starts.size() - 1);
      double idle = 0;
      Instant t = starts.get(0);
      while (t.isBefore(last)) {
        Instant at = t;
        long running = moves.stream().filter(m -> !m.start().isAfter(at) && m.end().isAfter(at)).count();
        idle += Math.max(0, PARALLEL - running) * 0.01;
        t = t.plusMillis(10);
      }
      return round2(idle);
    }

    private static double meanSeconds(List<Move> moves) {
      return moves.stream().mapToDouble(Move::seconds).average().orElse(0);
    }

    private static String maxDowntime(List<Move> moves) {
      return moves.stream().map(Move::downtimeMillis).flatMap(Optional::stream).max(Long::compare).map(String::valueOf).orElse("?");
    }

    private static String seconds(Duration d) {
      return String.format(Locale.ROOT, "%.1f", d.toMillis() / 1000.0);
    }

    private static double round2(double value) {
      return Math.round(value * 100) / 100.0;
    }
  }
}
