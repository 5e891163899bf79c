package io.polyvisor.sandbox;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sandbox as a newcomer uses it: {@code testbed/sandbox up}, the printed exports, {@code
 * kubectl apply -f crds/samples/}, then {@code testbed/sandbox down} leaving no process behind. It
 * runs on its own ports and state folder so that it never touches a sandbox the developer has up.
 */
class SandboxIT {

  private static final Path REPO = Path.of(System.getProperty("polyvisor.repoRoot")).toAbsolutePath().normalize();

  @TempDir static Path state;
  private static Map<String, String> environment;

  @BeforeAll
  static void up() throws Exception {
    int apiPort = freePort();
    int etcdPort = freePort();
    environment =
        Map.of(
            "POLYVISOR_SANDBOX_DIR", state.resolve("sandbox").toString(),
            "POLYVISOR_SANDBOX_PORT", String.valueOf(apiPort),
            "POLYVISOR_SANDBOX_ETCD_PORT", String.valueOf(etcdPort),
            "POLYVISOR_SANDBOX_HTTP_PORT", String.valueOf(freePort()),
            "POLYVISOR_SANDBOX_LIBVIRT_PORT", String.valueOf(freePort()));
    Result result = run("testbed/sandbox", "up");
    assertThat(result.exitCode).as("sandbox up:\n%s", result.output).isZero();
  }

  @AfterAll
  static void down() throws Exception {
    if (environment != null) {
      run("testbed/sandbox", "down");
    }
  }

  @Test
  void samplesApplyAndListWithTheDocumentedColumns() throws Exception {
    Result exports = run("testbed/sandbox", "env");
    assertThat(exports.output).contains("export KUBECONFIG=").contains("export PATH=");

    Result apply = shell(exports.output + "\nkubectl apply -f crds/samples/");
    assertThat(apply.exitCode).as(apply.output).isZero();
    assertThat(apply.output).contains("virtualmachine.polyvisor.io/web-1 created");

    Result list = shell(exports.output + "\nkubectl get pvm -n default");
    assertThat(list.output.lines().findFirst().orElseThrow().split("\\s+"))
        .containsExactly("NAME", "CLASS", "PHASE", "NODE", "READY", "AGE");
    Result wide = shell(exports.output + "\nkubectl get pvmim -n default");
    assertThat(wide.output.lines().findFirst().orElseThrow().split("\\s+"))
        .containsExactly("NAME", "VM", "PHASE", "SOURCE", "TARGET", "PROGRESS", "AGE");
    Result classes = shell(exports.output + "\nkubectl get hypervisorclass kvm -o jsonpath='{.spec.driver}'");
    assertThat(classes.output.trim()).isEqualTo("libvirt");
  }

  @Test
  void twoKvmNodesAreRegisteredReadyWithReachableLibvirtEndpoints() throws Exception {
    String exports = run("testbed/sandbox", "env").output;
    Result nodes =
        shell(exports + "\nkubectl get nodes -l polyvisor.io/hypervisor=kvm"
            + " -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type==\"Ready\")].status}"
            + " {.metadata.annotations.polyvisor\\.io/endpoint}{\"\\n\"}{end}'");
    List<String> lines = nodes.output.lines().filter(l -> !l.isBlank()).toList();
    assertThat(lines).as(nodes.output).hasSize(2);
    for (String line : lines) {
      String[] fields = line.split(" ");
      assertThat(fields[1]).as("%s Ready", fields[0]).isEqualTo("True");
      Result libvirt = run("virsh", "-c", fields[2], "hostname");
      assertThat(libvirt.exitCode).as("virsh -c %s: %s", fields[2], libvirt.output).isZero();
    }
    // The sandbox's PATH carries the kubectl plugin.
    Result status = shell(exports + "\nkubectl polyvisor status");
    assertThat(status.exitCode).as(status.output).isZero();
    assertThat(status.output).containsPattern("kvm-1\\s+kvm\\s+True\\s+False").containsPattern("kvm-2\\s+kvm\\s+True\\s+False");
  }

  @Test
  void exampleVmRunsOnAKvmNodeAndDeletingItRemovesTheGuest() throws Exception {
    String exports = run("testbed/sandbox", "env").output;
    Result apply = shell(exports + "\ntestbed/sandbox example-vm first | kubectl apply -n default -f -");
    assertThat(apply.exitCode).as(apply.output).isZero();

    Result running = shell(exports + "\nkubectl wait -n default pvm/first --for=jsonpath='{.status.phase}'=Running --timeout=90s"
        + " && kubectl get -n default pvm/first -o jsonpath='{.status.nodeName} {.metadata.uid}'");
    assertThat(running.exitCode).as(running.output).isZero();
    String[] placed = running.output.lines().reduce((a, b) -> b).orElseThrow().trim().split(" ");
    String endpoint = shell(exports + "\nkubectl get node " + placed[0] + " -o jsonpath='{.metadata.annotations.polyvisor\\.io/endpoint}'")
        .output.trim();
    assertThat(run("virsh", "-c", endpoint, "domstate", placed[1]).output).contains("running");

    Result delete = shell(exports + "\nkubectl delete -n default pvm/first --timeout=60s");
    assertThat(delete.exitCode).as(delete.output).isZero();
    assertThat(run("virsh", "-c", endpoint, "domstate", placed[1]).exitCode).as("guest gone").isNotZero();
  }

  @Test
  void theOperatorAnswersItsProbesServesMetricsAndRunsGuestsAcceleratedWhereTheHostCan() throws Exception {
    String exports = run("testbed/sandbox", "env").output;
    Result apply = shell(exports + "\ntestbed/sandbox example-vm probed | kubectl apply -n default -f -");
    assertThat(apply.exitCode).as(apply.output).isZero();
    Result running = shell(exports + "\nkubectl wait -n default pvm/probed --for=jsonpath='{.status.phase}'=Running --timeout=90s"
        + " && kubectl get -n default pvm/probed -o jsonpath='{.status.nodeName} {.metadata.uid}"
        + " {.status.conditions[?(@.type==\"Accelerated\")].status}'");
    assertThat(running.exitCode).as(running.output).isZero();
    String[] placed = running.output.lines().reduce((a, b) -> b).orElseThrow().trim().split(" ");
    String endpoint = shell(exports + "\nkubectl get node " + placed[0] + " -o jsonpath='{.metadata.annotations.polyvisor\\.io/endpoint}'")
        .output.trim();
    // KVM where the host offers it (this machine may or may not have /dev/kvm), emulation where not.
    boolean hostHasKvm = run("virsh", "-c", endpoint, "capabilities").output.contains("<domain type='kvm'/>");
    // The definition, not the live XML, where libvirt has expanded host-model to the model it chose.
    assertThat(run("virsh", "-c", endpoint, "dumpxml", "--inactive", placed[1]).output)
        .contains(hostHasKvm ? "<domain type='kvm'" : "<domain type='qemu'").contains("machine='pc-i440fx-")
        .satisfies(xml -> assertThat(xml.contains("<cpu mode='host-model'")).as("host-model under KVM only").isEqualTo(hostHasKvm));
    assertThat(placed[2]).as("Accelerated").isEqualTo(hostHasKvm ? "True" : "False");

    int port = Integer.parseInt(environment.get("POLYVISOR_SANDBOX_HTTP_PORT"));
    HttpClient http = HttpClient.newHttpClient();
    assertThat(get(http, port, "/healthz")).isEqualTo("200 ok\n");
    assertThat(get(http, port, "/readyz")).isEqualTo("200 ok\n");
    String metrics = get(http, port, "/metrics");
    assertThat(metrics).startsWith("200 ")
        .contains("polyvisor_vms{class=\"kvm\",phase=\"Running\"}")
        .contains("polyvisor_hypervisor_call_seconds_count{daemon=\"libvirtd\",node=\"" + placed[0] + "\",outcome=\"ok\"}")
        .contains("polyvisor_host_reachable{daemon=\"libvirtd\",node=\"" + placed[0] + "\"} 1.0")
        .contains("operator_sdk_").contains("jvm_memory_used_bytes");
    assertThat(metrics).as("no series names a VM").doesNotContain("probed").doesNotContain(placed[1]);

    assertThat(shell(exports + "\nkubectl delete -n default pvm/probed --timeout=60s").exitCode).isZero();
  }

  @Test
  void aDynamicMemoryVmOnASimulatedHyperVHostMovesToTheOtherWhenItsNodeIsCordoned() throws Exception {
    String exports = run("testbed/sandbox", "env").output;
    Result apply = shell(exports + "\ntestbed/sandbox example-vm --hyperv mover | kubectl apply -n default -f -");
    assertThat(apply.exitCode).as(apply.output).isZero();
    Result running = shell(exports + "\nkubectl wait -n default pvm/mover --for=jsonpath='{.status.phase}'=Running --timeout=90s"
        + " && kubectl get -n default pvm/mover -o jsonpath='{.status.nodeName} {.status.memory.assigned}'");
    assertThat(running.exitCode).as(running.output).isZero();
    String[] placed = running.output.lines().reduce((a, b) -> b).orElseThrow().trim().split(" ");
    assertThat(placed).as(running.output).containsAnyOf("hv-1", "hv-2").contains("512Mi");
    String from = placed[0];
    String to = from.equals("hv-1") ? "hv-2" : "hv-1";

    try {
      assertThat(shell(exports + "\nkubectl cordon " + from).exitCode).isZero();
      Result moved = shell(exports + "\nkubectl wait -n default pvm/mover --for=jsonpath='{.status.nodeName}'=" + to
          + " --timeout=90s && kubectl get -n default pvmim"
          + " -o jsonpath='{range .items[?(@.spec.vmName==\"mover\")]}{.status.phase} {.status.sourceNode} {.status.targetNode}{end}'");
      assertThat(moved.exitCode).as(moved.output).isZero();
      assertThat(moved.output.lines().reduce((a, b) -> b).orElseThrow().trim()).isEqualTo("Succeeded " + from + " " + to);
    } finally {
      shell(exports + "\nkubectl uncordon " + from + "; kubectl delete -n default pvm/mover --timeout=60s");
    }
  }

  private static String get(HttpClient http, int port, String path) throws Exception {
    HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
        HttpResponse.BodyHandlers.ofString());
    return response.statusCode() + " " + response.body();
  }

  @Test
  void downStopsEveryProcessItStarted() throws Exception {
    Path sandboxState = Path.of(environment.get("POLYVISOR_SANDBOX_DIR"));
    Path scratch = Files.createTempDirectory(state, "second");
    // A second, independent sandbox: bring it up, record its pids, bring it down.
    Map<String, String> second =
        Map.of(
            "POLYVISOR_SANDBOX_DIR", scratch.resolve("sandbox").toString(),
            "POLYVISOR_SANDBOX_PORT", String.valueOf(freePort()),
            "POLYVISOR_SANDBOX_ETCD_PORT", String.valueOf(freePort()),
            "POLYVISOR_SANDBOX_LIBVIRT_PORT", String.valueOf(freePort()),
            "POLYVISOR_SANDBOX_HTTP_PORT", String.valueOf(freePort()),
            "POLYVISOR_SANDBOX_KVM_NODES", "1");
    assertThat(run(second, "testbed/sandbox", "up").exitCode).isZero();
    List<Long> pids = new ArrayList<>();
    for (String pidFile : List.of("etcd.pid", "apiserver.pid", "operator.pid", "hyperv.pid", "nodes/kvm-1/libvirtd.pid")) {
      pids.add(Long.parseLong(Files.readString(scratch.resolve("sandbox").resolve(pidFile)).trim()));
    }
    assertThat(pids).allMatch(pid -> ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));

    assertThat(run(second, "testbed/sandbox", "down").exitCode).isZero();

    assertThat(pids).noneMatch(pid -> ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false));
    assertThat(scratch.resolve("sandbox")).doesNotExist();
    assertThat(sandboxState.resolve("apiserver.pid")).as("the first sandbox is untouched").exists();
  }

  private record Result(int exitCode, String output) {}

  private static Result run(String... command) throws IOException, InterruptedException {
    return run(environment, command);
  }

  private static Result shell(String script) throws IOException, InterruptedException {
    return run(environment, "bash", "-c", script);
  }

  private static Result run(Map<String, String> env, String... command) throws IOException, InterruptedException {
    ProcessBuilder builder = new ProcessBuilder(command).directory(REPO.toFile()).redirectErrorStream(true);
    builder.environment().putAll(env);
    Process process = builder.start();
    byte[] output = process.getInputStream().readAllBytes();
    assertThat(process.waitFor(5, TimeUnit.MINUTES)).as("%s finished", String.join(" ", command)).isTrue();
    return new Result(process.exitValue(), new String(output, StandardCharsets.UTF_8));
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }
}
