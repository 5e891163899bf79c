package io.polyvisor.bench;

import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.testing.RealApiServer;
import io.polyvisor.testing.TestManifests;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Nodes backed by libvirt's test driver ({@code test:///<file>}): the operator's libvirt client
 * runs the driver in its own process, one instance per node (each file is its own host), so
 * guests are defined and started at the cost of the operator's own work and none of a guest's.
 * For benchmarks of the operator at a scale no real host here could hold. The Nodes are deleted
 * on close: they would otherwise weigh on every later operator in the shared API server.
 */
public final class TestDriverNodes implements AutoCloseable {

  /** vCPUs of a node: its 2 CPUs at the class's highest overcommit ratio, 64. */
  static final int VMS_PER_NODE = 128;

  private final KubernetesClient client;
  private final String className;
  private final List<String> names = new ArrayList<>();

  private TestDriverNodes(KubernetesClient client, String className) {
    this.client = client;
    this.className = className;
  }

  /** A libvirt class of {@code count} test-driver nodes, each able to hold {@link #VMS_PER_NODE} one-vCPU VMs of 32 MiB. */
  public static TestDriverNodes start(KubernetesClient client, Path folder, String className, int count) throws IOException {
    HypervisorClass hvc = client.getKubernetesSerialization().unmarshal(
        TestManifests.hypervisorClass(className, "libvirt", "test:///{node.name}"), HypervisorClass.class);
    hvc.getSpec().cpuOvercommitRatio = 64;
    client.resource(hvc).serverSideApply();
    TestDriverNodes nodes = new TestDriverNodes(client, className);
    Files.createDirectories(folder);
    for (int i = 1; i <= count; i++) {
      String name = className + "-" + i;
      Path host = folder.resolve(name + ".xml");
      // 64 GiB and 64 threads for the driver's own accounting; the Node's figures are what placement uses.
      Files.writeString(host, """
          <node>
            <cpu><mhz>2000</mhz><model>x86_64</model><active>64</active><nodes>1</nodes><sockets>1</sockets><cores>32</cores><threads>2</threads></cpu>
            <memory>67108864</memory>
          </node>
          """);
      nodes.register(name, "test://" + host.toAbsolutePath());
    }
    return nodes;
  }

  private void register(String name, String endpoint) {
    String now = Instant.now().toString();
    Map<String, Quantity> capacity = Map.of("memory", new Quantity("64Gi"), "cpu", new Quantity("2"), "pods", new Quantity("0"));
    Node node = client.nodes().resource(new NodeBuilder()
        .withNewMetadata().withName(name)
        .withLabels(Map.of("kubernetes.io/hostname", name, "polyvisor.io/hypervisor", className))
        .withAnnotations(Map.of("polyvisor.io/endpoint", endpoint))
        .endMetadata().build()).create();
    names.add(name);
    node.setStatus(new io.fabric8.kubernetes.api.model.NodeStatusBuilder()
        .withCapacity(capacity).withAllocatable(capacity)
        .addNewAddress().withType("InternalIP").withAddress("127.0.0.1").endAddress()
        .addNewCondition().withType("Ready").withStatus("True").withReason("HypervisorReady")
        .withMessage("libvirt test driver " + endpoint).withLastHeartbeatTime(now).withLastTransitionTime(now).endCondition()
        .build());
    client.nodes().resource(node).updateStatus();
  }

  /**
   * One VM run to Running and deleted, with the operator up: the first pass over a new class
   * opens a connection to each of its nodes and reads what they hold, a cost paid once per host
   * and process, which is not what the benchmarks measure.
   */
  public void warmUp() throws InterruptedException {
    String namespace = RealApiServer.newNamespace("warm-up");
    client.resource(vm(client, "warm-up", className)).inNamespace(namespace).create();
    await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(100)).until(() -> {
      VirtualMachine vm = client.resources(VirtualMachine.class).inNamespace(namespace).withName("warm-up").get();
      return vm.getStatus() != null && vm.getStatus().phase == VirtualMachinePhase.Running;
    });
    ConvergenceBenchmarkIT.deleteAll(client, namespace, 1);
  }

  /** A VM as the tests on these nodes apply it: diskless, one vCPU, 32 MiB, always running. */
  public static VirtualMachine vm(KubernetesClient client, String name, String className) {
    return client.getKubernetesSerialization().unmarshal("""
        apiVersion: polyvisor.io/v1alpha1
        kind: VirtualMachine
        metadata: {name: %s}
        spec: {hypervisorClassName: %s, runStrategy: Always, cpu: {cores: 1}, memory: {size: 32Mi}}
        """.formatted(name, className), VirtualMachine.class);
  }

  /** Nodes enough for {@code vms} VMs, with one to spare. */
  static int neededFor(int vms) {
    return vms / VMS_PER_NODE + 2;
  }

  @Override
  public void close() {
    names.forEach(n -> client.nodes().withName(n).delete());
    client.resources(HypervisorClass.class).withName(className).delete();
  }
}
