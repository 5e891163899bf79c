package io.polyvisor.chart;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.testing.RealApiServer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Helm chart lints and installs into a real API server, which accepts every object in it. */
class HelmChartIT {

  private static final Path REPO = Path.of(System.getProperty("polyvisor.repoRoot")).toAbsolutePath().normalize();
  private static final Path CHART = REPO.resolve("helm/polyvisor");

  @TempDir Path scratch;

  @Test
  void chartInstallsIntoARealApiServer() throws Exception {
    KubernetesClient client = RealApiServer.client();
    Path kubeconfig = scratch.resolve("kubeconfig");
    Files.writeString(kubeconfig, RealApiServer.kubeconfigYaml());

    assertThat(helm(kubeconfig, "lint", "--strict", CHART.toString())).contains("0 chart(s) failed");
    helm(kubeconfig, "install", "pv", CHART.toString(), "--namespace", "polyvisor-system", "--create-namespace");

    assertThat(client.apps().deployments().inNamespace("polyvisor-system").withName("pv-operator").get()).isNotNull();
    assertThat(client.rbac().clusterRoles().withName("pv-operator").get().getRules())
        .anySatisfy(rule -> assertThat(rule.getResources()).contains("virtualmachines/status"))
        // The drain guard's placeholder pods.
        .anySatisfy(rule -> {
          assertThat(rule.getResources()).contains("pods");
          assertThat(rule.getVerbs()).contains("get", "list", "watch", "create", "delete", "patch", "update");
        });
    assertThat(client.apiextensions().v1().customResourceDefinitions().withName("virtualmachines.polyvisor.io").get())
        .isNotNull();
  }

  private static String helm(Path kubeconfig, String... args) throws IOException, InterruptedException {
    Path binaries = Path.of(System.getProperty("KUBE_API_TEST_DIR"), "k8s",
        System.getProperty("KUBE_API_TEST_API_SERVER_VERSION") + "-linux-amd64");
    List<String> command = new ArrayList<>(List.of(binaries.resolve("helm").toString(), "--kubeconfig", kubeconfig.toString()));
    command.addAll(List.of(args));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(process.waitFor(2, TimeUnit.MINUTES)).isTrue();
    assertThat(process.exitValue()).as("helm %s:\n%s", String.join(" ", args), output).isZero();
    return output;
  }
}
