package io.polyvisor.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.polyvisor.driver.Host;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/** Registers simulated hosts as Nodes (of the shared API server unless told otherwise) with {@code testbed/register-node}. */
public final class NodeRegistration {

  private NodeRegistration() {}

  public static void register(Host host, String memory, String hypervisorLabel) {
    register(host, memory, hypervisorLabel, RealApiServer.kubeconfigYaml());
  }

  /** Registers the host with the API server that {@code kubeconfigYaml} names. */
  public static void register(Host host, String memory, String hypervisorLabel, String kubeconfigYaml) {
    try {
      Path kubeconfig = Files.createTempFile("kubeconfig", ".yaml");
      Files.writeString(kubeconfig, kubeconfigYaml);
      ProcessBuilder builder =
          new ProcessBuilder(
                  KvmNodes.REPO.resolve("testbed/register-node").toString(),
                  host.nodeName(), host.endpoint(), memory, "2", hypervisorLabel)
              .redirectErrorStream(true);
      builder.environment().put("KUBECONFIG", kubeconfig.toString());
      builder.environment().put("KUBECTL", RealApiServer.binary("kubectl").toString());
      Process process = builder.start();
      String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
      assertThat(process.exitValue()).as("register-node %s:\n%s", host.nodeName(), output).isZero();
      Files.delete(kubeconfig);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /**
   * Cordons or uncordons a Node as kubectl does, with a merge patch: the operator writes the Node's
   * status meanwhile, which a read-modify-write would conflict with.
   */
  public static void cordon(KubernetesClient client, String node, boolean cordoned) {
    client.nodes().withName(node).patch(PatchContext.of(PatchType.JSON_MERGE), "{\"spec\":{\"unschedulable\":" + cordoned + "}}");
  }

  /**
   * Sets a Node's allocatable memory with a merge patch of its status, for the same reason: a
   * read-modify-write of the status conflicts with the operator's own writes to it.
   */
  public static void setAllocatableMemory(KubernetesClient client, String node, String memory) {
    client.nodes().withName(node).subresource("status")
        .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"status\":{\"allocatable\":{\"memory\":\"" + memory + "\"}}}");
  }

  /** Sets ({@code value} non-null) or removes a label of a Node with a merge patch. */
  public static void label(KubernetesClient client, String node, String key, String value) {
    String json = value == null ? "null" : "\"" + value + "\"";
    client.nodes().withName(node).patch(PatchContext.of(PatchType.JSON_MERGE), "{\"metadata\":{\"labels\":{\"" + key + "\":" + json + "}}}");
  }

  /**
   * Edits a Node as a read-modify-write, read again when the operator's status write came first
   * (409 Conflict), as {@code kubectl edit} asks its user to do.
   */
  public static void edit(KubernetesClient client, String node, UnaryOperator<Node> change) {
    for (int attempt = 1; ; attempt++) {
      try {
        client.nodes().withName(node).edit(change);
        return;
      } catch (KubernetesClientException e) {
        if (e.getCode() != 409 || attempt == 5) {
          throw e;
        }
      }
    }
  }
}
