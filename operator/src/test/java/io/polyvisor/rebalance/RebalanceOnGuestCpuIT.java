package io.polyvisor.rebalance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.MigrationReason;
import io.polyvisor.api.v1alpha1.RebalancingPolicy;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.Host;
import io.polyvisor.testing.ClassTestbed;
import io.polyvisor.testing.LinuxGuest;
import io.polyvisor.testing.NodeRegistration;
import io.polyvisor.testing.RealApiServer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Rebalancing on the CPU guests really use: two Linux guests that, from a minute after boot, keep
 * their CPU busy 45% of each second from inside, on one of two libvirtd nodes of 2 CPUs. What is
 * committed stays low (2 vCPUs of the 16 a node holds at the default overcommit); what the
 * hypervisor counts in CPU time passes the class's CPU threshold of 30%, and one of them moves
 * to the other node, where both stay under the 28% watermark. Then nothing more moves.
 */
class RebalanceOnGuestCpuIT {

  private static final String CLASS = "it-rbc";
  private static final String STORAGE = "it-rbc-local";
  private static final List<String> NODES = List.of("rbc-1", "rbc-2");

  @TempDir static Path work;
  private static ClassTestbed testbed;
  private static KubernetesClient client;
  private static String namespace;

  @BeforeAll
  static void startEverything() throws Exception {
    testbed = ClassTestbed.start(work, CLASS, STORAGE, NODES, "1Gi", hvc -> {
      hvc.getSpec().rebalancing = new RebalancingPolicy();
      hvc.getSpec().rebalancing.memoryThresholdPercent = 95;
      hvc.getSpec().rebalancing.memoryWatermarkPercent = 90;
      hvc.getSpec().rebalancing.cpuThresholdPercent = 30;
      hvc.getSpec().rebalancing.cpuWatermarkPercent = 28;
      hvc.getSpec().rebalancing.intervalSeconds = 5;
    }, Map.of("POLYVISOR_CONSOLE_LOG_DIR", work.toString()));
    client = testbed.client;
    namespace = RealApiServer.newNamespace("rbc");
  }

  @AfterAll
  static void stopEverything() {
    if (testbed != null) {
      client.resources(VirtualMachine.class).inNamespace(namespace).delete();
      await().atMost(Duration.ofSeconds(120))
          .until(() -> client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems().isEmpty());
      testbed.close();
    }
  }

  @Test
  void guestsThatKeepTheirCpuBusyFromInsideGetTheirNodeRelievedAndThenNothingMoves() throws Exception {
    Path disk = LinuxGuest.buildBurningDisk(work.resolve("burning.img"), 8, 45, 60);
    NodeRegistration.cordon(client, "rbc-2", true);
    List<VirtualMachine> vms = List.of(create("burn-a", disk), create("burn-b", disk));
    for (VirtualMachine vm : vms) {
      await().atMost(Duration.ofSeconds(120)).until(() -> phase(vm) == VirtualMachinePhase.Running);
      assertThat(get(vm).getStatus().nodeName).isEqualTo("rbc-1");
    }
    NodeRegistration.cordon(client, "rbc-2", false);

    // While the guests only boot and count, nothing moves.
    Thread.sleep(20_000);
    assertThat(rebalanceMigrations()).as("no move while the guests use little CPU").isEmpty();

    await().atMost(Duration.ofSeconds(180)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() ->
        assertThat(rebalanceMigrations()).singleElement().satisfies(m -> {
          assertThat(m.getStatus().phase).isEqualTo(MigrationPhase.Succeeded);
          assertThat(m.getStatus().sourceNode + " -> " + m.getStatus().targetNode).isEqualTo("rbc-1 -> rbc-2");
        }));
    String moved = rebalanceMigrations().get(0).getSpec().vmName;
    // One copy of each guest, on the node its status names: one moved, one stayed.
    for (VirtualMachine vm : vms) {
      String expected = vm.getMetadata().getName().equals(moved) ? "rbc-2" : "rbc-1";
      String other = expected.equals("rbc-1") ? "rbc-2" : "rbc-1";
      assertThat(testbed.libvirt.find(host(expected), vm.getMetadata().getUid())).map(GuestInfo::state).contains(GuestState.RUNNING);
      assertThat(testbed.libvirt.find(host(other), vm.getMetadata().getUid())).isEmpty();
    }
    // The Event gives the figures: the CPU used, with the few vCPUs committed.
    assertThat(client.v1().events().inNamespace("default").list().getItems()).anySatisfy(e -> {
      assertThat(e.getInvolvedObject().getName()).isEqualTo("rbc-1");
      assertThat(e.getReason()).isEqualTo("Rebalance");
      assertThat(e.getMessage()).startsWith("moving " + namespace + "/" + moved + " (").contains("m CPU) from rbc-1 to rbc-2")
          .contains("CPU pressure");
    });
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(rebalancing("rbc-1"))
        .hasValueSatisfying(c -> assertThat(c.getReason()).isEqualTo("Balanced")));
    assertThat(rebalancing("rbc-1").orElseThrow().getMessage()).contains("vCPUs committed of 16");
    // Both nodes carry one busy guest now, under the threshold: nothing goes back or on.
    Thread.sleep(30_000);
    assertThat(rebalanceMigrations()).as("and nothing more moves").hasSize(1);
  }

  private Host host(String node) {
    return testbed.nodes.host(node);
  }

  private VirtualMachine create(String name, Path disk) {
    VirtualMachine vm = client.getKubernetesSerialization().unmarshal("""
        apiVersion: polyvisor.io/v1alpha1
        kind: VirtualMachine
        metadata:
          name: %s
        spec:
          hypervisorClassName: %s
          memory: {size: 128Mi}
          disks:
          - name: root
            storageClassName: %s
            size: 32Mi
            bootOrder: 1
            source: {url: "file://%s"}
        """.formatted(name, CLASS, STORAGE, disk), VirtualMachine.class);
    return client.resource(vm).inNamespace(namespace).create();
  }

  private List<VirtualMachineMigration> rebalanceMigrations() {
    return client.resources(VirtualMachineMigration.class).inNamespace(namespace).list().getItems().stream()
        .filter(m -> m.getSpec().reason == MigrationReason.Rebalance).toList();
  }

  private Optional<NodeCondition> rebalancing(String node) {
    return client.nodes().withName(node).get().getStatus().getConditions().stream()
        .filter(c -> RebalanceReconciler.CONDITION.equals(c.getType())).findFirst();
  }

  private VirtualMachinePhase phase(VirtualMachine vm) {
    VirtualMachine current = get(vm);
    return current == null || current.getStatus() == null ? null : current.getStatus().phase;
  }

  private VirtualMachine get(VirtualMachine vm) {
    return client.resources(VirtualMachine.class).inNamespace(namespace).withName(vm.getMetadata().getName()).get();
  }
}
