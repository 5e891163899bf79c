package io.polyvisor.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.api.v1alpha1.VirtualMachineStatus;
import io.polyvisor.testing.OperatorProcess;
import io.polyvisor.testing.RealApiServer;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Benchmark: N VirtualMachines applied at once (16 requests at a time) on nodes backed by
 * libvirt's test driver, timed from the first request until every one is Running, against the
 * floor of a plain client that creates the same N objects and writes one status each, on the
 * same API server in the same run (before the operator starts, so that nothing else writes).
 * The gap is the operator's own work per VM: its passes, its status writes and Events, and the
 * test driver's define and start, which cost next to nothing. The operator reaches the API
 * server directly, as the floor's client does, and its requests per VM are read from its own
 * count of them ({@code polyvisor_api_requests_total}).
 */
class ConvergenceBenchmarkIT {

  private static final String CLASS = "bench-conv";
  private static final int CREATORS = 16;

  @TempDir Path work;

  @Test
  void vmsAppliedAtOnceAgainstAPlainClientWritingTheirStatus() throws Exception {
    // -Dbench.convergence.sizes=100,1000 runs some of the full sizes only.
    List<Integer> sizes = Optional.ofNullable(System.getProperty("bench.convergence.sizes"))
        .map(v -> Arrays.stream(v.split(",")).map(String::trim).map(Integer::valueOf).toList())
        .orElse(BenchReport.full() ? List.of(100, 1000, 5000) : List.of(50));
    KubernetesClient client = RealApiServer.client();
    int most = sizes.stream().mapToInt(Integer::intValue).max().orElseThrow();
    List<Map<String, Object>> rounds = new ArrayList<>();
    List<List<String>> rows = new ArrayList<>();
    try (TestDriverNodes nodes = TestDriverNodes.start(client, work.resolve("hosts"), CLASS, TestDriverNodes.neededFor(most))) {
      Map<Integer, Duration> floors = new LinkedHashMap<>();
      for (int n : sizes) {
        floors.put(n, floor(client, n));
      }
      // Straight to the API server, as the floor's client is: the operator counts its own requests.
      try (OperatorProcess operator = OperatorProcess.start(work.resolve("operator"), Map.of())) {
        nodes.warmUp();
        for (int n : sizes) {
          String namespace = RealApiServer.newNamespace("conv");
          try {
            Map<String, Integer> before = operator.apiRequests();
            Duration converged = timeUntilAllRunning(client, namespace, n, vm -> { });
            Map<String, Integer> requests = since(before, operator.apiRequests());
            assertThat(requests).as("the operator's own count of its requests").containsKey("PATCH virtualmachines/status");
            Duration floor = floors.get(n);
            double ratio = (double) converged.toMillis() / Math.max(1, floor.toMillis());
            int all = requests.values().stream().mapToInt(Integer::intValue).sum();
            Map<String, Object> round = new LinkedHashMap<>();
            round.put("vms", n);
            round.put("operatorSeconds", converged.toMillis() / 1000.0);
            round.put("floorSeconds", floor.toMillis() / 1000.0);
            round.put("ratio", Math.round(ratio * 100) / 100.0);
            round.put("operatorMsPerVm", (double) converged.toMillis() / n);
            round.put("floorMsPerVm", (double) floor.toMillis() / n);
            round.put("operatorRequestsPerVm", Math.round(100.0 * all / n) / 100.0);
            round.put("requests", requests);
            rounds.add(round);
            rows.add(List.of(String.valueOf(n), seconds(converged), seconds(floor), String.format(Locale.ROOT, "%.2f", ratio),
                String.format(Locale.ROOT, "%.1f", (double) converged.toMillis() / n), String.format(Locale.ROOT, "%.1f", (double) floor.toMillis() / n),
                String.format(Locale.ROOT, "%.1f", (double) all / n)));
            System.out.println("convergence of " + n + " VMs: " + seconds(converged) + " s against a floor of " + seconds(floor)
                + " s: ratio " + String.format(Locale.ROOT, "%.2f", ratio) + "; " + String.format(Locale.ROOT, "%.1f", (double) all / n)
                + " operator requests per VM " + requests);
          } finally {
            // While the operator runs, which releases their finalizers and removes their guests.
            deleteAll(client, namespace, n);
          }
        }
      }
    }
    BenchReport.write("convergence", Map.of("rounds", rounds), """
        ## Convergence at scale

        N VirtualMachines (diskless, 32 MiB, one vCPU) applied at once, %d requests at a time, on nodes backed by
        libvirt's test driver (one driver instance per node, %d VMs per node at most): from the first request until all are
        Running. Floor: a plain client creating the same N objects and writing one status each, same API server,
        same run.

        """.formatted(CREATORS, TestDriverNodes.VMS_PER_NODE) + BenchReport.table(
            List.of("VMs", "operator (s)", "floor (s)", "ratio", "operator ms per VM", "floor ms per VM", "operator requests per VM"),
            rows));
  }

  /** The plain client's time: each VM created, then its status written as Running, no operator. */
  private static Duration floor(KubernetesClient client, int n) throws Exception {
    String namespace = RealApiServer.newNamespace("conv-floor");
    try {
      return timeUntilAllRunning(client, namespace, n, created -> {
        VirtualMachineStatus status = new VirtualMachineStatus();
        status.phase = VirtualMachinePhase.Running;
        status.nodeName = CLASS + "-1";
        created.setStatus(status);
        client.resource(created).updateStatus();
      });
    } finally {
      deleteAll(client, namespace, n);
    }
  }

  /** From the first create until the API server shows every VM Running; {@code then} runs after each create. */
  static Duration timeUntilAllRunning(KubernetesClient client, String namespace, int n, Consumer<VirtualMachine> then)
      throws Exception {
    try (PhaseWatch watch = PhaseWatch.of(client, namespace)) {
      Instant start = Instant.now();
      ExecutorService creators = Executors.newFixedThreadPool(CREATORS);
      IntStream.rangeClosed(1, n).forEach(i -> creators.execute(() -> then.accept(
          client.resource(TestDriverNodes.vm(client, "c" + String.format(Locale.ROOT, "%05d", i), CLASS)).inNamespace(namespace).create())));
      creators.shutdown();
      assertThat(creators.awaitTermination(30, TimeUnit.MINUTES)).isTrue();
      await().atMost(Duration.ofSeconds(120L + n)).pollInterval(Duration.ofMillis(20)).until(() -> watch.running() == n);
      return Duration.between(start, watch.lastRunningAt());
    }
  }

  /** Deletes the VMs one by one, 16 requests at a time, and waits until they are gone. */
  static void deleteAll(KubernetesClient client, String namespace, int n) throws InterruptedException {
    ExecutorService deleters = Executors.newFixedThreadPool(CREATORS);
    client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems().forEach(vm -> deleters.execute(() ->
        client.resources(VirtualMachine.class).inNamespace(namespace).withName(vm.getMetadata().getName()).delete()));
    deleters.shutdown();
    assertThat(deleters.awaitTermination(30, TimeUnit.MINUTES)).isTrue();
    await().atMost(Duration.ofSeconds(120L + n / 2)).pollInterval(Duration.ofSeconds(1))
        .until(() -> client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems().isEmpty());
  }

  /** What was counted between two readings, by kind; kinds not asked for in between left out. */
  private static Map<String, Integer> since(Map<String, Integer> before, Map<String, Integer> after) {
    Map<String, Integer> made = new java.util.TreeMap<>();
    after.forEach((kind, count) -> {
      int more = count - before.getOrDefault(kind, 0);
      if (more > 0) {
        made.put(kind, more);
      }
    });
    return made;
  }

  private static String seconds(Duration d) {
    return String.format(Locale.ROOT, "%.1f", d.toMillis() / 1000.0);
  }
}
