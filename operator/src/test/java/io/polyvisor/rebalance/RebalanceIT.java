package io.polyvisor.rebalance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestState;
import io.polyvisor.testing.ClassTestbed;
import io.polyvisor.testing.NodeRegistration;
import io.polyvisor.testing.TestManifests;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Rebalancing on real nodes: three libvirtd hosts registered with 640Mi each, counter guests of
 * 64Mi (10% of a node each), a class that relieves a node above 80% down to 50%. Load is driven
 * up by placing VMs and by shrinking a node's allocatable memory, and down by growing it back;
 * the moves are counted.
 */
class RebalanceIT {

  private static final String CLASS = "it-rb";
  private static final List<String> NODES = List.of("rb-1", "rb-2", "rb-3");

  @TempDir static Path work;
  private static RebalanceScene scene;
  private static ClassTestbed testbed;
  private static KubernetesClient client;
  private static String namespace;

  @BeforeAll
  static void startEverything() throws Exception {
    scene = RebalanceScene.start(work, CLASS, NODES, "640Mi", policy -> {
      policy.memoryThresholdPercent = 80;
      policy.memoryWatermarkPercent = 50;
      policy.coolDownSeconds = 60;
      policy.intervalSeconds = 2;
    }, Map.of("POLYVISOR_CONSOLE_LOG_DIR", work.toString()));
    testbed = scene.testbed;
    client = scene.client;
    namespace = scene.namespace;
  }

  @AfterAll
  static void stopEverything() {
    if (scene != null) {
      scene.close();
    }
  }

  @Test
  void anOverloadedNodeIsRelievedToItsWatermarkThenTheCoolDownHoldsAndLoadGoingDownMovesNothingBack() throws Exception {
    // Up: nine VMs on rb-1 (90%), one of which may not move.
    NodeRegistration.cordon(client, "rb-2", true);
    NodeRegistration.cordon(client, "rb-3", true);
    List<VirtualMachine> vms = new ArrayList<>();
    for (int i = 1; i <= 9; i++) {
      String manifest = TestManifests.counterVm("vm-" + i, CLASS, "Always", "64Mi", scene.storageClass, testbed.image)
          + (i == 1 ? "  evictionStrategy: None\n" : "");
      vms.add(client.resource(client.getKubernetesSerialization().unmarshal(manifest, VirtualMachine.class)).inNamespace(namespace).create());
    }
    for (VirtualMachine vm : vms) {
      await().atMost(Duration.ofSeconds(120)).until(() -> scene.phase(vm) == VirtualMachinePhase.Running);
      assertThat(scene.get(vm).getStatus().nodeName).isEqualTo("rb-1");
    }
    // With nowhere to go, the node says why it cannot be relieved.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(scene.rebalancing("rb-1"))
        .hasValueSatisfying(c -> assertThat(c.getReason()).isEqualTo("CannotRelieve")));
    assertThat(scene.rebalanceMigrations()).isEmpty();

    NodeRegistration.cordon(client, "rb-2", false);
    NodeRegistration.cordon(client, "rb-3", false);

    // Four moves bring rb-1 from 90% to 50%, onto nodes that stay at or under 50%.
    await().atMost(Duration.ofSeconds(180)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() -> {
      assertThat(scene.rebalanceMigrations()).hasSize(4).allSatisfy(m -> assertThat(m.getStatus().phase).isEqualTo(MigrationPhase.Succeeded));
      assertThat(scene.rebalancing("rb-1")).hasValueSatisfying(c -> assertThat(c.getReason()).isEqualTo("Balanced"));
    });
    assertThat(scene.rebalanceMigrations()).allSatisfy(m -> {
      assertThat(m.getStatus().sourceNode).isEqualTo("rb-1");
      assertThat(m.getSpec().vmName).isNotEqualTo("vm-1");
    });
    assertThat(count("rb-1")).isEqualTo(5);
    assertThat(count("rb-2")).isLessThanOrEqualTo(5);
    assertThat(count("rb-3")).isLessThanOrEqualTo(5);
    for (VirtualMachine vm : vms) {
      String node = scene.get(vm).getStatus().nodeName;
      assertThat(testbed.libvirt.find(testbed.nodes.host(node), vm.getMetadata().getUid())).as("%s on %s", vm.getMetadata().getName(), node)
          .map(GuestInfo::state).contains(GuestState.RUNNING);
      for (String other : NODES) {
        if (!other.equals(node)) {
          assertThat(testbed.libvirt.find(testbed.nodes.host(other), vm.getMetadata().getUid())).as("a copy on " + other).isEmpty();
        }
      }
    }
    assertThat(scene.get(vms.get(0)).getStatus().nodeName).as("the None VM").isEqualTo("rb-1");
    assertThat(scene.events("rb-1", "Rebalance")).anySatisfy(message -> assertThat(message)
        .contains("from rb-1 to rb-").contains("rb-1 memory pressure 90% -> 80% (threshold 80%, watermark 50%)"));

    // rb-2 shrinks under the VMs it just received: over its threshold, but they are in their cool-down.
    String busy = count("rb-2") >= count("rb-3") ? "rb-2" : "rb-3";
    String quiet = busy.equals("rb-2") ? "rb-3" : "rb-2";
    long held = count(busy);
    NodeRegistration.setAllocatableMemory(client, busy, (held * 64 * 100 / 85) + "Mi"); // about 85%
    await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(scene.rebalancing(busy)).hasValueSatisfying(c -> {
      assertThat(c.getReason()).isEqualTo("CannotRelieve");
      assertThat(c.getMessage()).contains("(coolDownSeconds 60)");
    }));
    assertThat(scene.rebalanceMigrations()).hasSize(4);

    // Once the cool-down is over, enough of them move to the node that stays under its watermark.
    await().atMost(Duration.ofSeconds(150)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() -> {
      assertThat(scene.rebalanceMigrations()).hasSizeGreaterThan(4)
          .allSatisfy(m -> assertThat(m.getStatus() == null ? null : m.getStatus().phase).isEqualTo(MigrationPhase.Succeeded));
      assertThat(scene.rebalancing(busy)).hasValueSatisfying(c -> assertThat(c.getReason()).isEqualTo("Balanced"));
    });
    List<VirtualMachineMigration> later = scene.rebalanceMigrations().stream().filter(m -> busy.equals(m.getStatus().sourceNode)).toList();
    assertThat(later).isNotEmpty().allSatisfy(m -> assertThat(m.getStatus().targetNode).as("never onto rb-1, at its watermark")
        .isEqualTo(quiet));
    int moves = scene.rebalanceMigrations().size();

    // Down: the node grows back. Nothing moves back, nothing moves at all.
    NodeRegistration.setAllocatableMemory(client, busy, "640Mi");
    Thread.sleep(15_000);
    assertThat(scene.rebalanceMigrations()).hasSize(moves);
    for (String node : NODES) {
      assertThat(scene.rebalancing(node).map(NodeCondition::getStatus).orElse("False")).as(node).isEqualTo("False");
    }
  }

  private long count(String node) {
    return client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems().stream()
        .filter(vm -> vm.getStatus() != null && node.equals(vm.getStatus().nodeName)).count();
  }
}
