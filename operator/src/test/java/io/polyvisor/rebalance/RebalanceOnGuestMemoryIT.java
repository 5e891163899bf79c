package io.polyvisor.rebalance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestState;
import io.polyvisor.testing.ClassTestbed;
import io.polyvisor.testing.LinuxGuest;
import io.polyvisor.testing.NodeRegistration;
import io.polyvisor.testing.TestManifests;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Rebalancing on what guests really use: a Linux guest with Dynamic memory takes more memory from
 * inside once it runs, its balloon follows (the guest's own balloon driver reports it), and its
 * node's memory pressure passes the threshold although what is committed there stays low. Two
 * libvirtd nodes of 512Mi, a class that relieves a node above 55% down to 35%.
 */
class RebalanceOnGuestMemoryIT {

  private static final String CLASS = "it-rbu";
  private static final List<String> NODES = List.of("rbu-1", "rbu-2");

  @TempDir static Path work;
  private static RebalanceScene scene;
  private static ClassTestbed testbed;
  private static KubernetesClient client;
  private static String namespace;

  @BeforeAll
  static void startEverything() throws Exception {
    scene = RebalanceScene.start(work, CLASS, NODES, "512Mi", policy -> {
      policy.memoryThresholdPercent = 55;
      policy.memoryWatermarkPercent = 35;
      policy.intervalSeconds = 2;
    }, Map.of("POLYVISOR_CONSOLE_LOG_DIR", work.toString(), "POLYVISOR_BALLOON_PERIOD_SECONDS", "2"));
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
  void aGuestThatTakesMoreMemoryFromInsideGetsItsNodeRelievedOfAnotherVm() throws Exception {
    // 16 MiB held at boot; from 60 s on, up to 160 MiB, 4 MiB a second.
    Path disk = LinuxGuest.buildDisk(work.resolve("growing.img"), 16, 160, 60);
    NodeRegistration.cordon(client, "rbu-2", true);
    VirtualMachine small = scene.create(TestManifests.counterVm("small", CLASS, "Always", "64Mi", scene.storageClass, testbed.image));
    VirtualMachine growing = scene.create("""
        apiVersion: polyvisor.io/v1alpha1
        kind: VirtualMachine
        metadata:
          name: growing
        spec:
          hypervisorClassName: %s
          memory: {policy: Dynamic, size: 128Mi, minimum: 64Mi, maximum: 320Mi, bufferPercent: 20}
          disks:
          - name: root
            storageClassName: %s
            size: 32Mi
            bootOrder: 1
            source: {url: "file://%s"}
        """.formatted(CLASS, scene.storageClass, disk));
    for (VirtualMachine vm : List.of(small, growing)) {
      await().atMost(Duration.ofSeconds(120)).until(() -> scene.phase(vm) == VirtualMachinePhase.Running);
      assertThat(scene.get(vm).getStatus().nodeName).isEqualTo("rbu-1");
    }
    NodeRegistration.cordon(client, "rbu-2", false);

    // Committed on rbu-1: 64Mi + the 64Mi minimum, 25%. Nothing moves while the guest uses little.
    await().atMost(Duration.ofSeconds(240)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() -> {
      assertThat(scene.rebalanceMigrations()).as("no move before the guest's demand rises").isEmpty();
      assertThat(demandBytes(growing)).as("the demand the guest's balloon driver reports rises").isGreaterThan(150L << 20);
    });

    await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() ->
        assertThat(scene.rebalanceMigrations()).singleElement().satisfies(m -> {
          assertThat(m.getSpec().vmName).isEqualTo("small");
          assertThat(m.getStatus().phase).isEqualTo(MigrationPhase.Succeeded);
          assertThat(m.getStatus().sourceNode + " -> " + m.getStatus().targetNode).isEqualTo("rbu-1 -> rbu-2");
        }));
    assertThat(testbed.libvirt.find(testbed.nodes.host("rbu-2"), small.getMetadata().getUid())).map(GuestInfo::state)
        .contains(GuestState.RUNNING);
    assertThat(testbed.libvirt.find(testbed.nodes.host("rbu-1"), small.getMetadata().getUid())).isEmpty();
    assertThat(testbed.libvirt.find(testbed.nodes.host("rbu-1"), growing.getMetadata().getUid())).map(GuestInfo::state)
        .contains(GuestState.RUNNING);
    // The Event gives the figures: what is used, well above what is committed.
    assertThat(client.v1().events().inNamespace("default").list().getItems()).anySatisfy(e -> {
      assertThat(e.getInvolvedObject().getName()).isEqualTo("rbu-1");
      assertThat(e.getReason()).isEqualTo("Rebalance");
      assertThat(e.getMessage()).startsWith("moving " + namespace + "/small (64Mi) from rbu-1 to rbu-2: rbu-1 memory pressure ");
    });
    // Then it stops: the grown guest would take rbu-2 over its 35% watermark.
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(scene.rebalancing("rbu-1"))
        .hasValueSatisfying(c -> assertThat(c.getReason()).isIn("Balanced", "CannotRelieve")));
    Thread.sleep(10_000);
    assertThat(scene.rebalanceMigrations()).as("and nothing more moves").hasSize(1);
  }

  private long demandBytes(VirtualMachine vm) {
    VirtualMachine current = scene.get(vm);
    return current.getStatus().memory == null || current.getStatus().memory.demand == null ? 0
        : Quantity.getAmountInBytes(current.getStatus().memory.demand).longValue();
  }
}
