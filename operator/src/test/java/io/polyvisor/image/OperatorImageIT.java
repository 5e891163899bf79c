package io.polyvisor.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.libvirt.LibvirtDriver;
import io.polyvisor.testing.CounterGuest;
import io.polyvisor.testing.Kubeconfigs;
import io.polyvisor.testing.KvmNodes;
import io.polyvisor.testing.NodeRegistration;
import io.polyvisor.testing.RealApiServer;
import io.polyvisor.testing.TestManifests;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The image the build makes (target/jib-image.tar), run here by podman as the chart runs it:
 * its numeric user, a read-only root with a writable /tmp, no capabilities. It starts, answers
 * its health endpoints, and runs a guest on a real libvirtd node through the real API server.
 */
class OperatorImageIT {

  private static final Path REPO = Path.of(System.getProperty("polyvisor.repoRoot")).toAbsolutePath().normalize();
  private static final Path IMAGE_TAR = REPO.resolve("operator/target/jib-image.tar");
  private static final String IMAGE = "polyvisor/operator:" + System.getProperty("polyvisor.imageTag");
  private static final String CLASS = "it-image";
  private static final String STORAGE = "it-image-local";
  private static final String CONTAINER = "polyvisor-image-it";

  @TempDir static Path work;
  private static Path storage;
  private static Path runRoot;
  private static KubernetesClient client;
  private static KvmNodes nodes;
  private static LibvirtDriver libvirt;
  private static int httpPort;

  @BeforeAll
  static void loadAndRun() throws Exception {
    assertThat(IMAGE_TAR).as("the image; build it with testbed/test, which passes -Dpolyvisor.baseImage").exists();
    // podman's own storage for this run, deleted with it (vfs: no overlay mounts needed).
    storage = Files.createTempDirectory(REPO.resolve("operator/target"), "podman-");
    // podman wants its run folder's path short (50 characters at most).
    runRoot = Files.createTempDirectory(Path.of("/tmp"), "pvrun-");
    client = RealApiServer.client();
    nodes = KvmNodes.start(work.resolve("nodes"), "image-1");
    for (Host host : nodes.hosts()) {
      NodeRegistration.register(host, "1Gi", CLASS);
    }
    client.resource(TestManifests.hypervisorClass(CLASS, "libvirt", "qemu+tcp://{node.address}/system")).serverSideApply();
    client.resource(TestManifests.localStorageClass(STORAGE)).serverSideApply();
    libvirt = new LibvirtDriver();

    assertThat(podman("load", "--input", IMAGE_TAR.toString())).contains(IMAGE);
    Path kubeconfig = work.resolve("kubeconfig");
    Files.writeString(kubeconfig, Kubeconfigs.selfContained());
    Files.setPosixFilePermissions(kubeconfig, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
    httpPort = freePort();
    podman("run", "--detach", "--name", CONTAINER, "--network", "host",
        "--read-only", "--tmpfs", "/tmp:rw,exec,size=64m", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--volume", kubeconfig + ":/etc/polyvisor/kubeconfig:ro",
        "--env", "KUBECONFIG=/etc/polyvisor/kubeconfig",
        "--env", "POLYVISOR_HTTP_ADDRESS=127.0.0.1", "--env", "POLYVISOR_HTTP_PORT=" + httpPort,
        "--env", "POLYVISOR_LIBVIRT_PKI_DIR=/tmp/libvirt-pki",
        IMAGE);
  }

  @AfterAll
  static void stop() throws Exception {
    if (storage != null) {
      System.out.println("operator container's log:\n" + podmanQuietly("logs", CONTAINER));
      podmanQuietly("rm", "--force", "--time", "20", CONTAINER);
      podmanQuietly("rmi", "--force", IMAGE);
      try {
        exec(List.of("rm", "-rf", storage.toString(), runRoot.toString())); // the image's unpacked layers, hundreds of MB
      } catch (IOException | RuntimeException e) {
        System.err.println("cannot remove " + storage + ": " + e);
      }
    }
    if (libvirt != null) {
      libvirt.close();
    }
    if (nodes != null) {
      nodes.close();
    }
  }

  @Test
  void theImageRunsAsItsNumericUserWithoutAShellAndItsDefaultTagIsTheCharts() throws Exception {
    assertThat(podman("image", "inspect", "--format", "{{.Config.User}}", IMAGE).trim()).isEqualTo("65532:65532");
    String chart = Files.readString(REPO.resolve("helm/polyvisor/Chart.yaml"));
    Matcher appVersion = Pattern.compile("(?m)^appVersion: \"?([^\"\\s]+)\"?").matcher(chart);
    assertThat(appVersion.find()).isTrue();
    assertThat(IMAGE).endsWith(":" + appVersion.group(1));
    for (String shell : List.of("/bin/sh", "/bin/bash", "/usr/bin/dash")) {
      String output = podmanFailing("run", "--rm", "--entrypoint", shell, IMAGE, "-c", "true");
      assertThat(output).as(shell).containsIgnoringCase("no such file");
    }
  }

  @Test
  void theOperatorInTheImageAnswersItsProbesAndRunsAGuestOnARealNode() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofSeconds(1)).ignoreExceptions()
        .until(() -> get(http, "/readyz").statusCode() == 200);
    HttpResponse<String> health = get(http, "/healthz");
    assertThat(health.statusCode()).as(health.body()).isEqualTo(200);
    assertThat(get(http, "/metrics").body()).contains("jvm_memory_used_bytes");

    String namespace = RealApiServer.newNamespace("image");
    Path image = CounterGuest.build(work);
    VirtualMachine vm = client.getKubernetesSerialization()
        .unmarshal(TestManifests.counterVm("from-image", CLASS, "Always", "32Mi", STORAGE, image), VirtualMachine.class);
    vm = client.resource(vm).inNamespace(namespace).create();
    String uid = vm.getMetadata().getUid();
    await().atMost(Duration.ofSeconds(90)).until(() -> phase(namespace) == VirtualMachinePhase.Running);
    assertThat(libvirt.find(nodes.host("image-1"), uid)).map(GuestInfo::state).contains(GuestState.RUNNING);

    client.resources(VirtualMachine.class).inNamespace(namespace).withName("from-image").delete();
    await().atMost(Duration.ofSeconds(60)).until(() -> client.resources(VirtualMachine.class).inNamespace(namespace)
        .withName("from-image").get() == null);
    assertThat(libvirt.find(nodes.host("image-1"), uid)).isEmpty();
  }

  private static VirtualMachinePhase phase(String namespace) {
    VirtualMachine vm = client.resources(VirtualMachine.class).inNamespace(namespace).withName("from-image").get();
    return vm == null || vm.getStatus() == null ? null : vm.getStatus().phase;
  }

  private static HttpResponse<String> get(HttpClient http, String path) throws IOException, InterruptedException {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + path)).timeout(Duration.ofSeconds(5)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** podman as it runs on these machines (see TESTBED-NOTES): vfs storage, cgroupfs, runc, the machine's ulimits. */
  private static List<String> podmanCommand(String... args) {
    List<String> command = new ArrayList<>(List.of("podman", "--root", storage.resolve("root").toString(),
        "--runroot", runRoot.toString(), "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs",
        "--runtime", "runc", "--events-backend", "file"));
    List<String> rest = new ArrayList<>(List.of(args));
    if (rest.get(0).equals("run")) {
      rest.addAll(1, List.of("--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"));
    }
    command.addAll(rest);
    return command;
  }

  private static String podman(String... args) throws IOException, InterruptedException {
    Result result = exec(podmanCommand(args));
    assertThat(result.exit()).as("podman %s:\n%s", String.join(" ", args), result.output()).isZero();
    return result.output();
  }

  private static String podmanFailing(String... args) throws IOException, InterruptedException {
    Result result = exec(podmanCommand(args));
    assertThat(result.exit()).as("podman %s:\n%s", String.join(" ", args), result.output()).isNotZero();
    return result.output();
  }

  private static String podmanQuietly(String... args) {
    try {
      return exec(podmanCommand(args)).output();
    } catch (IOException | InterruptedException | RuntimeException e) {
      return "podman " + String.join(" ", args) + ": " + e;
    }
  }

  private record Result(int exit, String output) {}

  private static Result exec(List<String> command) throws IOException, InterruptedException {
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(process.waitFor(5, TimeUnit.MINUTES)).isTrue();
    return new Result(process.exitValue(), output);
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }
}
