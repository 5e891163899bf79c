package io.polyvisor.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.api.v1alpha1.VirtualMachineStatus;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestState;
import io.polyvisor.testing.ClassTestbed;
import io.polyvisor.testing.RealApiServer;
import io.polyvisor.testing.TestManifests;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Benchmark: VMs applied 100 ms apart (the shape of KubeVirt's creation benchmark), each timed
 * from its request to the first sight of its {@code Ready=True}: on nodes backed by libvirt's test
 * driver, against the floor of a plain client that creates the same objects at the same pace and
 * writes each one's status as Ready (no operator running), and on real QEMU nodes, where the
 * guest's own start is part of the figure.
 */
class LatencyBenchmarkIT {

  private static final String CLASS = "bench-lat";
  private static final String KVM_CLASS = "bench-lat-kvm";
  private static final Duration PACE = Duration.ofMillis(100);

  @TempDir Path work;

  @Test
  void vmsApplied100msApartUntilReady() throws Exception {
    int onTestDriver = BenchReport.full() ? 100 : 20;
    int onQemu = BenchReport.full() ? 10 : 3;
    KubernetesClient client = RealApiServer.client();

    // The floor first, while no operator runs, so that nothing else writes the VMs' status.
    String floorNamespace = RealApiServer.newNamespace("lat-floor");
    Latencies floor;
    try {
      floor = applyPaced(client, floorNamespace, onTestDriver, i -> TestDriverNodes.vm(client, "f" + i, CLASS), created -> {
        VirtualMachineStatus status = new VirtualMachineStatus();
        status.phase = VirtualMachinePhase.Running;
        status.conditions.add(new ConditionBuilder().withType(VirtualMachineStatus.READY).withStatus("True").withReason("Running")
            .withMessage("written by the floor").withLastTransitionTime(Instant.now().toString()).build());
        created.setStatus(status);
        client.resource(created).updateStatus();
      });
    } finally {
      ConvergenceBenchmarkIT.deleteAll(client, floorNamespace, onTestDriver);
    }

    Latencies testDriver;
    Latencies qemu;
    try (ClassTestbed testbed = ClassTestbed.start(work.resolve("kvm"), KVM_CLASS, KVM_CLASS + "-local", List.of("lat-1", "lat-2"),
            "4Gi", c -> { }, Map.of());
        TestDriverNodes nodes = TestDriverNodes.start(client, work.resolve("hosts"), CLASS, TestDriverNodes.neededFor(onTestDriver))) {
      nodes.warmUp();
      String namespace = RealApiServer.newNamespace("lat");
      try {
        testDriver = applyPaced(client, namespace, onTestDriver, i -> TestDriverNodes.vm(client, "t" + i, CLASS), created -> { });
      } finally {
        ConvergenceBenchmarkIT.deleteAll(client, namespace, onTestDriver);
      }
      String kvmNamespace = RealApiServer.newNamespace("lat-kvm");
      try {
        List<VirtualMachine> created = new ArrayList<>();
        qemu = applyPaced(client, kvmNamespace, onQemu, i -> client.getKubernetesSerialization().unmarshal(
            TestManifests.counterVm("q" + i, KVM_CLASS, "Always", "32Mi", KVM_CLASS + "-local", testbed.image), VirtualMachine.class),
            created::add);
        for (VirtualMachine vm : created) {
          VirtualMachine now = client.resource(vm).get();
          assertThat(testbed.libvirt.find(testbed.nodes.host(now.getStatus().nodeName), vm.getMetadata().getUid()))
              .as("the guest of %s on its host", vm.getMetadata().getName()).map(GuestInfo::state).contains(GuestState.RUNNING);
        }
      } finally {
        ConvergenceBenchmarkIT.deleteAll(client, kvmNamespace, onQemu);
      }
    }

    Map<String, Object> figures = new LinkedHashMap<>();
    figures.put("testDriver", testDriver.figures());
    figures.put("floor", floor.figures());
    figures.put("qemu", qemu.figures());
    String summary = String.format(Locale.ROOT, "%d VMs on test-driver nodes: P50 %d ms, P95 %d ms (floor P50 %d ms, P95 %d ms);"
        + " %d on QEMU nodes: P50 %d ms, P95 %d ms", testDriver.count(), testDriver.percentile(50), testDriver.percentile(95),
        floor.percentile(50), floor.percentile(95), qemu.count(), qemu.percentile(50), qemu.percentile(95));
    System.out.println("latency: " + summary + "; median ms to each phase: test driver " + testDriver.medianToPhase()
        + ", floor " + floor.medianToPhase() + ", QEMU " + qemu.medianToPhase());
    BenchReport.write("latency", figures, """
        ## Latency

        VMs applied %d ms apart, each timed from its create request to the first sight of Ready=True by an informer.
        Floor: a plain client creating the same objects at the same pace and writing each status as Ready, no
        operator running. On QEMU nodes the guest's own start (under emulation here) is part of the figure.

        """.formatted(PACE.toMillis()) + BenchReport.table(List.of("nodes", "VMs", "P50 (ms)", "P95 (ms)", "max (ms)", "floor P50 (ms)",
            "floor P95 (ms)", "P95 ratio"),
        List.of(List.of("libvirt test driver", String.valueOf(testDriver.count()), String.valueOf(testDriver.percentile(50)),
                String.valueOf(testDriver.percentile(95)), String.valueOf(testDriver.percentile(100)), String.valueOf(floor.percentile(50)),
                String.valueOf(floor.percentile(95)),
                String.format(Locale.ROOT, "%.1f", (double) testDriver.percentile(95) / Math.max(1, floor.percentile(95)))),
            List.of("QEMU (emulated)", String.valueOf(qemu.count()), String.valueOf(qemu.percentile(50)), String.valueOf(qemu.percentile(95)),
                String.valueOf(qemu.percentile(100)), "", "", "")))
        + "\nMedian ms from the request to the first sight of each phase: test driver " + testDriver.medianToPhase()
        + ", QEMU " + qemu.medianToPhase() + ".\n");
  }

  /** Creates {@code n} VMs {@link #PACE} apart ({@code then} after each) and times each until Ready=True. */
  private static Latencies applyPaced(KubernetesClient client, String namespace, int n, IntFunction<VirtualMachine> vm,
      Consumer<VirtualMachine> then) throws Exception {
    Map<String, Instant> applied = new LinkedHashMap<>();
    try (PhaseWatch watch = PhaseWatch.of(client, namespace)) {
      Instant next = Instant.now();
      for (int i = 1; i <= n; i++) {
        long wait = Duration.between(Instant.now(), next).toMillis();
        if (wait > 0) {
          Thread.sleep(wait);
        }
        VirtualMachine manifest = vm.apply(i);
        applied.put(manifest.getMetadata().getName(), Instant.now());
        then.accept(client.resource(manifest).inNamespace(namespace).create());
        next = next.plus(PACE);
      }
      await().atMost(Duration.ofSeconds(120L + n)).pollInterval(Duration.ofMillis(20))
          .until(() -> applied.keySet().stream().allMatch(name -> watch.readyAt(name) != null));
      List<Long> millis = applied.entrySet().stream()
          .map(e -> Duration.between(e.getValue(), watch.readyAt(e.getKey())).toMillis()).sorted().toList();
      // Where the time goes: the median time from the request to the first sight of each phase.
      Map<String, Long> medianToPhase = new LinkedHashMap<>();
      for (VirtualMachinePhase phase : List.of(VirtualMachinePhase.Scheduled, VirtualMachinePhase.Provisioning,
          VirtualMachinePhase.Starting, VirtualMachinePhase.Running)) {
        List<Long> to = applied.entrySet().stream().filter(e -> watch.phaseAt(e.getKey(), phase) != null)
            .map(e -> Duration.between(e.getValue(), watch.phaseAt(e.getKey(), phase)).toMillis()).sorted().toList();
        if (!to.isEmpty()) {
          medianToPhase.put(phase.name(), to.get((to.size() - 1) / 2));
        }
      }
      return new Latencies(millis, medianToPhase);
    }
  }

  /** Latencies in milliseconds, sorted. */
  private record Latencies(List<Long> millis, Map<String, Long> medianToPhase) {

    int count() {
      return millis.size();
    }

    /** The nearest-rank percentile. */
    long percentile(int p) {
      int rank = (int) Math.ceil(p / 100.0 * millis.size());
      return millis.get(Math.max(0, rank - 1));
    }

    Map<String, Object> figures() {
      Map<String, Object> f = new LinkedHashMap<>();
      f.put("vms", count());
      f.put("p50Ms", percentile(50));
      f.put("p95Ms", percentile(95));
      f.put("maxMs", percentile(100));
      f.put("medianMsToFirstSightOfPhase", medianToPhase);
      f.put("allMs", millis);
      return f;
    }
  }
}
