package io.polyvisor.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.storage.StorageClassBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.Host;
import io.polyvisor.operator.OperatorSettings;
import io.polyvisor.operator.PolyvisorOperator;
import io.polyvisor.testing.ClassTestbed;
import io.polyvisor.testing.NodeRegistration;
import io.polyvisor.testing.OperatorProcess;
import io.polyvisor.testing.RealApiServer;
import io.polyvisor.testing.TestManifests;
import io.polyvisor.testing.hyperv.HyperVNetwork;
import io.polyvisor.testing.hyperv.SimulatedHyperVHost;
import io.polyvisor.testing.hyperv.TestCertificate;
import io.polyvisor.testing.hyperv.WinRmSimulator;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Benchmark: what the operator asks of the hosts, per VM per minute while nothing changes and per
 * migration, at the operator's default periods (a balloon read every 10 s, a resync every 300 s;
 * the full run's window holds one resync). KVM: the operator's own count of its calls to libvirtd
 * (its {@code polyvisor_hypervisor_call_seconds_count}), each one connection call that may make a
 * few RPCs. Hyper-V: what the WinRM simulator received, as a real host would: WinRM requests and
 * PowerShell scripts, each of which starts a powershell.exe on a real host. There is no floor: the
 * figures are the cost itself, for a deployment to weigh.
 */
class HypervisorCallsBenchmarkIT {

  private static final Pattern LIBVIRT_CALLS =
      Pattern.compile("polyvisor_hypervisor_call_seconds_count\\{daemon=\"libvirtd\",node=\"([^\"]+)\",outcome=\"[^\"]+\"} ([0-9.E+]+)");
  private static final Pattern CMDLET = Pattern.compile("\\b((?:Get|Set|New|Start|Stop|Move|Remove|Measure|Suspend|Resume|Save|Add|Test|Resize)-[A-Za-z]+)");

  @TempDir static Path work;
  private static final Map<String, Object> figures = new LinkedHashMap<>();
  private static final List<List<String>> rows = new ArrayList<>();

  private static int guests() {
    return BenchReport.full() ? 8 : 2;
  }

  /** Long enough, in the full run, to hold one resync of every VM (300 s by default). */
  private static Duration window() {
    return BenchReport.full() ? Duration.ofSeconds(330) : Duration.ofSeconds(30);
  }

  @AfterAll
  static void report() {
    if (rows.isEmpty()) {
      return;
    }
    BenchReport.write("hypervisor-calls", figures, """
        ## Hypervisor calls

        What the operator asks of the hosts at its default periods (balloon read every 10 s, resync every 300 s), %d
        VMs per hypervisor, over %d s while nothing changes and then while they are all moved by a cordon. KVM: the
        operator's calls to libvirtd (each may make a few RPCs). Hyper-V (WinRM simulator): WinRM requests, and
        PowerShell scripts, each of which starts one powershell.exe on a real host.

        """.formatted(guests(), window().toSeconds()) + BenchReport.table(
            List.of("hypervisor", "counted", "per VM per minute at rest", "per migration", "at rest, by kind"), rows));
  }

  @Test
  void kvm() throws Exception {
    List<String> nodes = List.of("calls-1", "calls-2");
    ClassTestbed testbed = ClassTestbed.start(work.resolve("kvm"), "bench-calls", "bench-calls-local", nodes, "4Gi", c -> { },
        Map.of("POLYVISOR_CONSOLE_LOG_DIR", work.toString()));
    KubernetesClient client = testbed.client;
    String namespace = RealApiServer.newNamespace("calls");
    try {
      NodeRegistration.cordon(client, "calls-2", true);
      List<VirtualMachine> vms = new ArrayList<>();
      for (int i = 1; i <= guests(); i++) {
        String manifest = TestManifests.counterVm("k" + i, "bench-calls", "Always", "32Mi", "bench-calls-local", testbed.image);
        vms.add(client.resource(client.getKubernetesSerialization().unmarshal(manifest, VirtualMachine.class)).inNamespace(namespace).create());
      }
      awaitRunningOn(client, vms, "calls-1");
      NodeRegistration.cordon(client, "calls-2", false);
      Supplier<Double> calls = () -> libvirtCalls(testbed.operator, nodes);

      Counted counted = measure(client, "calls-1", vms.size(), () -> Map.of("calls", calls.get()));
      awaitRunningOn(client, vms, "calls-2");
      for (VirtualMachine vm : vms) {
        String uid = vm.getMetadata().getUid();
        assertThat(testbed.libvirt.find(testbed.nodes.host("calls-2"), uid)).map(GuestInfo::state).contains(GuestState.RUNNING);
        assertThat(testbed.libvirt.find(testbed.nodes.host("calls-1"), uid)).as("nothing left on calls-1").isEmpty();
      }
      rows.add(List.of("KVM (libvirtd)", "operator calls", fmt(counted.atRest("calls")), fmt(counted.perMigration("calls")),
          "n/a (not split by call)"));
      figures.put("kvm", counted.figures());
    } finally {
      client.resources(VirtualMachine.class).inNamespace(namespace).delete();
      await().atMost(Duration.ofSeconds(120))
          .until(() -> client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems().isEmpty());
      testbed.close();
    }
  }

  @Test
  void hyperV() throws Exception {
    KubernetesClient client = RealApiServer.client();
    List<String> nodes = List.of("calls-hv-a", "calls-hv-b");
    HyperVNetwork network = new HyperVNetwork();
    Map<String, WinRmSimulator> hosts = new LinkedHashMap<>();
    TestCertificate certificate = TestCertificate.shared();
    String namespace = RealApiServer.newNamespace("calls-hv");
    PolyvisorOperator operator = null;
    try {
      for (String node : nodes) {
        SimulatedHyperVHost host = new SimulatedHyperVHost(network, node.toUpperCase(Locale.ROOT), 8L << 30, 4).enableMigration()
            .share("\\\\fs3\\vms", "3.02");
        WinRmSimulator simulator = new WinRmSimulator(host, "polyvisor", "bench-password", certificate.keyStore());
        hosts.put(node, simulator);
        NodeRegistration.register(new Host(node, simulator.endpoint().toString()), "8Gi", "bench-calls-hv");
      }
      client.resource(new SecretBuilder().withNewMetadata().withName("winrm").withNamespace(namespace).endMetadata()
          .withStringData(Map.of("username", "polyvisor", "password", "bench-password", "ca.crt", certificate.pem()))
          .build()).create();
      client.resource("""
          apiVersion: polyvisor.io/v1alpha1
          kind: HypervisorClass
          metadata:
            name: bench-calls-hv
          spec:
            driver: hyperv
            nodeSelector: {polyvisor.io/hypervisor: bench-calls-hv}
            connection:
              endpoint: "https://{node.address}:5986/wsman"
              credentialsSecretRef: {name: winrm, namespace: %s}
          """.formatted(namespace)).serverSideApply();
      client.resource(new StorageClassBuilder().withNewMetadata().withName("bench-calls-smb").endMetadata()
          .withProvisioner("hyperv.polyvisor.io").withParameters(Map.of("path", "\\\\fs3\\vms", "shared", "true"))
          .build()).serverSideApply();
      // The deployed defaults: a balloon read every 10 s, a resync every 300 s.
      operator = PolyvisorOperator.start(client, new OperatorSettings(Optional.empty(), Duration.ofSeconds(10),
          Duration.ofSeconds(300), Duration.ofSeconds(120), Duration.ofSeconds(600)), null);

      NodeRegistration.cordon(client, "calls-hv-b", true);
      List<VirtualMachine> vms = new ArrayList<>();
      for (int i = 1; i <= guests(); i++) {
        vms.add(client.resource(client.getKubernetesSerialization().unmarshal("""
            apiVersion: polyvisor.io/v1alpha1
            kind: VirtualMachine
            metadata: {name: h%d, namespace: %s}
            spec:
              hypervisorClassName: bench-calls-hv
              cpu: {cores: 1}
              memory: {size: 256Mi}
              disks:
              - {name: root, storageClassName: bench-calls-smb, size: 64Mi}
            """.formatted(i, namespace), VirtualMachine.class)).create());
      }
      awaitRunningOn(client, vms, "calls-hv-a");
      NodeRegistration.cordon(client, "calls-hv-b", false);

      Counted counted = measure(client, "calls-hv-a", vms.size(), () -> {
        Map<String, Double> now = new LinkedHashMap<>();
        now.put("requests", (double) hosts.values().stream().mapToInt(h -> h.rawRequests().size()).sum());
        now.put("scripts", (double) hosts.values().stream().mapToInt(h -> h.scripts().size()).sum());
        hosts.forEach((node, h) -> now.put("scripts on " + node, (double) h.scripts().size()));
        return now;
      });
      awaitRunningOn(client, vms, "calls-hv-b");
      assertThat(hosts.get("calls-hv-a").host().vmNames()).as("VMs left on calls-hv-a").isEmpty();
      assertThat(hosts.get("calls-hv-b").host().vmNames()).hasSize(vms.size());
      // Which scripts cost what, by the cmdlets each runs, at rest and while moving.
      Map<String, Long> atRest = new TreeMap<>();
      Map<String, Long> moving = new TreeMap<>();
      hosts.forEach((node, h) -> {
        List<String> scripts = h.scripts();
        String key = "scripts on " + node;
        count(scripts.subList(counted.restStart().get(key).intValue(), counted.restEnd().get(key).intValue()), atRest);
        count(scripts.subList(counted.restEnd().get(key).intValue(), counted.moved().get(key).intValue()), moving);
      });
      rows.add(List.of("Hyper-V (WinRM)", "WinRM requests", fmt(counted.atRest("requests")), fmt(counted.perMigration("requests")), ""));
      rows.add(List.of("Hyper-V (WinRM)", "powershell.exe started", fmt(counted.atRest("scripts")), fmt(counted.perMigration("scripts")),
          atRest.entrySet().stream().map(e -> e.getKey() + " " + e.getValue()).collect(Collectors.joining(", "))));
      Map<String, Object> hyperv = counted.figures();
      hyperv.keySet().removeIf(k -> k.startsWith("scripts on "));
      hyperv.put("scriptsAtRestByCmdlets", atRest);
      hyperv.put("scriptsDuringEvacuationByCmdlets", moving);
      figures.put("hyperv", hyperv);
    } finally {
      client.resources(VirtualMachine.class).inNamespace(namespace).delete();
      await().atMost(Duration.ofSeconds(60))
          .until(() -> client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems().isEmpty());
      if (operator != null) {
        operator.close();
      }
      hosts.values().forEach(WinRmSimulator::close);
      nodes.forEach(n -> client.nodes().withName(n).delete());
    }
  }

  /**
   * Counts at rest over {@link #window()}, then through the evacuation of {@code node}; the count
   * of a migration is what the evacuation cost beyond the rest rate over the same time, per VM.
   */
  private static Counted measure(KubernetesClient client, String node, int vms, Supplier<Map<String, Double>> count)
      throws InterruptedException {
    Thread.sleep(15_000); // past the start-up passes
    Map<String, Double> restStart = count.get();
    Instant t0 = Instant.now();
    Thread.sleep(window().toMillis());
    Map<String, Double> restEnd = count.get();
    Duration rest = Duration.between(t0, Instant.now());

    Instant cordoned = Instant.now();
    NodeRegistration.cordon(client, node, true);
    await().atMost(Duration.ofSeconds(60L + 20L * vms)).pollInterval(Duration.ofMillis(200))
        .until(() -> "Completed".equals(EvacuationBenchmarkIT.evacuationReason(client, node)));
    Map<String, Double> moved = count.get();
    Duration moving = Duration.between(cordoned, Instant.now());
    NodeRegistration.cordon(client, node, false);
    return new Counted(vms, rest, restStart, restEnd, moving, moved);
  }

  private record Counted(int vms, Duration rest, Map<String, Double> restStart, Map<String, Double> restEnd, Duration moving,
      Map<String, Double> moved) {

    double atRest(String what) {
      return (restEnd.get(what) - restStart.get(what)) / vms / (rest.toMillis() / 60_000.0);
    }

    double perMigration(String what) {
      double all = moved.get(what) - restEnd.get(what);
      double restingMeanwhile = atRest(what) * vms * (moving.toMillis() / 60_000.0);
      return Math.max(0, all - restingMeanwhile) / vms;
    }

    Map<String, Object> figures() {
      Map<String, Object> f = new LinkedHashMap<>();
      f.put("vms", vms);
      f.put("restSeconds", rest.toMillis() / 1000.0);
      f.put("evacuationSeconds", moving.toMillis() / 1000.0);
      for (String what : restStart.keySet()) {
        f.put(what + "PerVmPerMinuteAtRest", Math.round(atRest(what) * 100) / 100.0);
        f.put(what + "PerMigration", Math.round(perMigration(what) * 100) / 100.0);
      }
      return f;
    }
  }

  private static void awaitRunningOn(KubernetesClient client, List<VirtualMachine> vms, String node) {
    for (VirtualMachine vm : vms) {
      await().atMost(Duration.ofSeconds(90)).until(() -> {
        VirtualMachine now = client.resource(vm).get();
        return now.getStatus() != null && now.getStatus().phase == VirtualMachinePhase.Running && node.equals(now.getStatus().nodeName);
      });
    }
  }

  /** The operator's calls to libvirtd on these nodes so far, from its /metrics. */
  private static double libvirtCalls(OperatorProcess operator, List<String> nodes) {
    try {
      double total = 0;
      Matcher m = LIBVIRT_CALLS.matcher(operator.metrics());
      while (m.find()) {
        if (nodes.contains(m.group(1))) {
          total += Double.parseDouble(m.group(2));
        }
      }
      return total;
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private static void count(List<String> scripts, Map<String, Long> byKind) {
    scripts.forEach(script -> byKind.merge(kind(script), 1L, Long::sum));
  }

  /** A script's kind: the cmdlets it runs, in order, each once. */
  private static String kind(String script) {
    Matcher m = CMDLET.matcher(script);
    java.util.LinkedHashSet<String> cmdlets = new java.util.LinkedHashSet<>();
    while (m.find()) {
      cmdlets.add(m.group(1));
    }
    return cmdlets.isEmpty() ? "other" : String.join("+", cmdlets);
  }

  private static String fmt(double value) {
    return String.format(Locale.ROOT, "%.1f", value);
  }
}
