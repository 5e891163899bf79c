package io.polyvisor.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.testing.ApiFaultProxy;
import io.polyvisor.testing.KvmNodes;
import io.polyvisor.testing.OperatorProcess;
import io.polyvisor.testing.RealApiServer;
import io.polyvisor.testing.TestManifests;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Benchmark: what the operator costs while nothing happens, with many VMs in its cache. N
 * VirtualMachines (10,000 in the full run) of a class whose nodes are all gone, so each is
 * reconciled once to Pending and then has nothing to do; the operator runs with leader election,
 * as deployed, and reaches the API server through a proxy that counts its requests. Figures: heap
 * after a full collection, resident memory and threads, against the floor of a JVM that only
 * caches the same VMs with one fabric8 informer; API requests per minute at rest (writes other
 * than the Lease's renewals must be 0); time from the operator's start to its first reconcile,
 * and to every VM reconciled.
 */
class FootprintBenchmarkIT {

  private static final String CLASS = "bench-idle";
  private static final Path TARGET = KvmNodes.REPO.resolve("operator/target");

  @TempDir Path work;

  @Test
  void anIdleOperatorWithManyVmsCachedAgainstAnInformerAlone() throws Exception {
    boolean full = BenchReport.full();
    int count = full ? 10_000 : 200;
    Duration window = Duration.ofSeconds(full ? 60 : 15);
    KubernetesClient client = RealApiServer.client();
    // Nodes of no class carry this label: the VMs stay Pending, and reconciling them touches no host.
    client.resource(client.getKubernetesSerialization().unmarshal(
        TestManifests.hypervisorClass(CLASS, "libvirt", "qemu+tcp://{node.address}/system"), HypervisorClass.class)).serverSideApply();
    String namespace = RealApiServer.newNamespace("idle");
    String leases = RealApiServer.newNamespace("idle-lease");
    Instant creating = Instant.now();
    create(client, namespace, count);
    double createSeconds = Duration.between(creating, Instant.now()).toMillis() / 1000.0;

    PhaseWatch statuses = PhaseWatch.of(client, namespace);
    Process floor = startFloor();
    try (ApiFaultProxy proxy = new ApiFaultProxy(RealApiServer.kubeconfigYaml(), line -> { })) {
      JvmFootprint informerOnly = JvmFootprint.of(floor.pid());
      floor.destroy();

      Instant started = Instant.now();
      try (OperatorProcess operator = OperatorProcess.start(work.resolve("operator"), Map.of("POLYVISOR_NAMESPACE", leases),
          proxy.kubeconfigYaml())) {
        try {
        await().atMost(Duration.ofSeconds(60L + count / 5)).pollInterval(Duration.ofMillis(50))
            .until(() -> statuses.withAPhase() == count);
        Instant allReconciled = Instant.now();
        // The first status writes wake each VM once more: let that settle before counting.
        Thread.sleep(10_000);
        proxy.takeRequestCounts();
        Thread.sleep(window.toMillis());
        Map<String, Integer> requests = proxy.takeRequestCounts();
        JvmFootprint footprint = JvmFootprint.of(operator.pid());

        double minutes = window.toMillis() / 60_000.0;
        int leaseWrites = sum(requests, k -> isWrite(k) && k.contains("leases"));
        int otherWrites = sum(requests, k -> isWrite(k) && !k.contains("leases"));
        int all = sum(requests, k -> true);
        double toFirst = Duration.between(started, statuses.firstPhaseAt()).toMillis() / 1000.0;
        double toAll = Duration.between(started, allReconciled).toMillis() / 1000.0;
        Map<String, Object> figures = new LinkedHashMap<>();
        figures.put("vms", count);
        figures.put("createSeconds", createSeconds);
        figures.put("operator", footprint);
        figures.put("informerOnly", informerOnly);
        figures.put("heapRatio", ratio(footprint.heapAfterGcMiB(), informerOnly.heapAfterGcMiB()));
        figures.put("rssRatio", ratio(footprint.rssMiB(), informerOnly.rssMiB()));
        figures.put("secondsToFirstReconcile", toFirst);
        figures.put("secondsToAllReconciled", toAll);
        figures.put("windowSeconds", window.toSeconds());
        figures.put("requestsPerMinute", round(all / minutes));
        figures.put("writesPerMinuteBesidesLease", round(otherWrites / minutes));
        figures.put("leaseWritesPerMinute", round(leaseWrites / minutes));
        figures.put("requests", requests);
        String summary = String.format(Locale.ROOT, "%d VMs: heap %d MiB after GC (informer alone %d MiB, %.2fx), RSS %d MiB (%d, %.2fx),"
                + " %d threads (%d); at rest %.1f requests/min, %.1f writes/min besides %.1f Lease renewals/min; first reconcile"
                + " %.1f s after start, all %d reconciled after %.1f s",
            count, footprint.heapAfterGcMiB(), informerOnly.heapAfterGcMiB(), ratio(footprint.heapAfterGcMiB(), informerOnly.heapAfterGcMiB()),
            footprint.rssMiB(), informerOnly.rssMiB(), ratio(footprint.rssMiB(), informerOnly.rssMiB()), footprint.threads(),
            informerOnly.threads(), all / minutes, otherWrites / minutes, leaseWrites / minutes, toFirst, count, toAll);
        System.out.println("footprint: " + summary + "; requests " + requests);
        BenchReport.write("footprint", figures, """
            ## Footprint at rest

            %d VirtualMachines of a class without nodes (each reconciled once to Pending, then idle), the operator with
            leader election on, its requests counted by a proxy over %d s after they settled. Floor: a JVM that only
            caches the same VMs with one fabric8 informer.

            """.formatted(count, window.toSeconds()) + BenchReport.table(
                List.of("VMs", "heap after GC (MiB)", "informer alone (MiB)", "heap ratio", "RSS (MiB)", "informer alone RSS (MiB)",
                    "threads", "requests/min at rest", "writes/min besides the Lease", "s to first reconcile", "s to all reconciled"),
                List.of(List.of(String.valueOf(count), String.valueOf(footprint.heapAfterGcMiB()), String.valueOf(informerOnly.heapAfterGcMiB()),
                    String.format(Locale.ROOT, "%.2f", ratio(footprint.heapAfterGcMiB(), informerOnly.heapAfterGcMiB())),
                    String.valueOf(footprint.rssMiB()), String.valueOf(informerOnly.rssMiB()), String.valueOf(footprint.threads()),
                    String.format(Locale.ROOT, "%.1f", all / minutes), String.format(Locale.ROOT, "%.1f", otherWrites / minutes),
                    String.format(Locale.ROOT, "%.1f", toFirst), String.format(Locale.ROOT, "%.1f", toAll)))));
        assertThat(otherWrites).as("writes at rest besides the Lease's: %s", requests).isZero();
        } finally {
          // Removed while the operator still runs, which releases their finalizers: VMs left in
          // the shared API server would weigh on every later test's operator.
          delete(client, namespace, count);
          await().atMost(Duration.ofSeconds(60L + count / 5)).pollInterval(Duration.ofSeconds(1))
              .until(() -> client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems().isEmpty());
        }
      }
    } finally {
      floor.destroyForcibly();
      statuses.close();
      client.resources(HypervisorClass.class).withName(CLASS).delete();
    }
  }

  /** Creates the VMs, diskless, 16 requests at a time. */
  private static void create(KubernetesClient client, String namespace, int count) throws InterruptedException {
    ExecutorService creators = Executors.newFixedThreadPool(16);
    IntStream.rangeClosed(1, count).forEach(i -> creators.execute(() -> {
      VirtualMachine vm = client.getKubernetesSerialization().unmarshal("""
          apiVersion: polyvisor.io/v1alpha1
          kind: VirtualMachine
          metadata: {name: idle-%05d}
          spec: {hypervisorClassName: %s, runStrategy: Always, memory: {size: 32Mi}}
          """.formatted(i, CLASS), VirtualMachine.class);
      client.resource(vm).inNamespace(namespace).create();
    }));
    creators.shutdown();
    assertThat(creators.awaitTermination(30, TimeUnit.MINUTES)).isTrue();
  }

  /** Deletes the VMs one by one, 16 requests at a time: one request for them all outlasts the client's timeout. */
  private static void delete(KubernetesClient client, String namespace, int count) throws InterruptedException {
    ExecutorService deleters = Executors.newFixedThreadPool(16);
    IntStream.rangeClosed(1, count).forEach(i -> deleters.execute(() ->
        client.resources(VirtualMachine.class).inNamespace(namespace).withName("idle-%05d".formatted(i)).delete()));
    deleters.shutdown();
    assertThat(deleters.awaitTermination(30, TimeUnit.MINUTES)).isTrue();
  }

  /** The informer-only JVM, once its cache holds every VM. */
  private Process startFloor() throws Exception {
    Path kubeconfig = Files.writeString(work.resolve("floor-kubeconfig"), RealApiServer.kubeconfigYaml());
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder builder = new ProcessBuilder(java, "-cp",
        TARGET.resolve("test-classes") + ":" + TARGET.resolve("classes") + ":" + TARGET.resolve("lib") + "/*",
        InformerFloor.class.getName()).redirectErrorStream(true);
    builder.environment().put("KUBECONFIG", kubeconfig.toString());
    Process floor = builder.start();
    BufferedReader output = new BufferedReader(new InputStreamReader(floor.getInputStream(), StandardCharsets.UTF_8));
    CompletableFuture<String> synced = CompletableFuture.supplyAsync(() -> {
      try {
        String line;
        while ((line = output.readLine()) != null && !line.startsWith("synced ")) {
          // its log lines
        }
        return line;
      } catch (IOException e) {
        return null;
      }
    });
    try {
      assertThat(synced.get(180, TimeUnit.SECONDS)).as("the informer floor's output").isNotNull();
    } catch (Exception | AssertionError e) {
      floor.destroyForcibly();
      throw e;
    }
    Thread.sleep(2000); // let it settle after the list as the operator does
    return floor;
  }

  private static boolean isWrite(String kind) {
    return kind.startsWith("POST") || kind.startsWith("PUT") || kind.startsWith("PATCH") || kind.startsWith("DELETE");
  }

  private static int sum(Map<String, Integer> requests, java.util.function.Predicate<String> kinds) {
    return requests.entrySet().stream().filter(e -> kinds.test(e.getKey())).mapToInt(Map.Entry::getValue).sum();
  }

  private static double ratio(long value, long floor) {
    return round((double) value / Math.max(1, floor));
  }

  private static double round(double value) {
    return Math.round(value * 100) / 100.0;
  }
}
