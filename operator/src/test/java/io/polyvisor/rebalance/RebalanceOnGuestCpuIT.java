package io.polyvisor.rebalance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.Host;
import io.polyvisor.testing.ClassTestbed;
import io.polyvisor.testing.LinuxGuest;
import io.polyvisor.testing.NodeRegistration;
import io.polyvisor.testing.Virsh;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Rebalancing on the CPU guests really use: two Linux guests that, from 150 s after boot, keep
 * their CPU busy 60% of each second from inside, on one of two libvirtd nodes of 2 CPUs. Their
 * boot, a burst of a whole CPU each, moves nothing. What is
 * committed stays low (2 vCPUs of the 16 a node holds at the default overcommit); what the
 * hypervisor counts in CPU time passes the class's CPU threshold (set from what one busy guest is
 * measured to use, as this machine's speed decides), and one of them moves to the other node,
 * where both stay under the watermark. Then nothing more moves.
 */
class RebalanceOnGuestCpuIT {

  private static final String CLASS = "it-rbc";
  private static final List<String> NODES = List.of("rbc-1", "rbc-2");

  @TempDir static Path work;
  private static RebalanceScene scene;
  private static ClassTestbed testbed;
  private static KubernetesClient client;
  private static String namespace;

  @BeforeAll
  static void startEverything() throws Exception {
    scene = RebalanceScene.start(work, CLASS, NODES, "1Gi", policy -> {
      policy.memoryThresholdPercent = 95;
      policy.memoryWatermarkPercent = 90;
      // While the guests boot and idle: above the 2 vCPUs committed of 16 (13%), below what a
      // boot that counted would show (two guests at a whole CPU for part of a minute).
      policy.cpuThresholdPercent = 20;
      policy.cpuWatermarkPercent = 16;
      policy.intervalSeconds = 5;
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
  void guestsThatKeepTheirCpuBusyFromInsideGetTheirNodeRelievedAndThenNothingMoves() throws Exception {
    // From 150 s after boot the guests keep their CPU busy 60% of each second.
    Path disk = LinuxGuest.buildBurningDisk(work.resolve("burning.img"), 8, 60, 150);
    NodeRegistration.cordon(client, "rbc-2", true);
    List<VirtualMachine> vms = List.of(burning("burn-a", disk), burning("burn-b", disk));
    for (VirtualMachine vm : vms) {
      await().atMost(Duration.ofSeconds(120)).until(() -> scene.phase(vm) == VirtualMachinePhase.Running);
      assertThat(scene.get(vm).getStatus().nodeName).isEqualTo("rbc-1");
    }
    Instant running = Instant.now();
    NodeRegistration.cordon(client, "rbc-2", false);

    // While the guests boot (a burst of a whole CPU each, under emulation) and then only count,
    // nothing moves: use is measured over a minute, from a minute after a guest appears.
    await().during(Duration.ofSeconds(130)).atMost(Duration.ofSeconds(140)).pollInterval(Duration.ofSeconds(1))
        .until(() -> scene.rebalanceMigrations().isEmpty());

    // Out of the way while one busy guest's use is measured here, through libvirt's own client:
    // the thresholds are set from it, so that the pair is over on one node and each under once
    // apart, however fast this machine is.
    cpuThresholds(99, 98);
    Thread.sleep(Duration.between(Instant.now(), running.plusSeconds(165)).toMillis());
    VirtualMachine probe = vms.get(0);
    Host probeHost = host(scene.get(probe).getStatus().nodeName);
    long before = cpuNanos(probeHost, probe.getMetadata().getUid());
    Thread.sleep(20_000);
    long millicpu = (cpuNanos(probeHost, probe.getMetadata().getUid()) - before) / 20_000_000;
    int threshold = (int) Math.floor(2 * millicpu * 0.85 / 20);
    int watermark = (int) Math.ceil(millicpu * 1.15 / 20);
    assertThat(watermark).as("a busy guest uses %dm", millicpu).isLessThan(threshold).isPositive();
    assertThat(threshold).as("above the committed vCPUs' 13%%: what moves is measured use").isGreaterThan(13);
    cpuThresholds(threshold, watermark);

    await().atMost(Duration.ofSeconds(180)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() ->
        assertThat(scene.rebalanceMigrations()).singleElement().satisfies(m -> {
          assertThat(m.getStatus().phase).isEqualTo(MigrationPhase.Succeeded);
          assertThat(m.getStatus().sourceNode + " -> " + m.getStatus().targetNode).isEqualTo("rbc-1 -> rbc-2");
        }));
    String moved = scene.rebalanceMigrations().get(0).getSpec().vmName;
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
      assertThat(e.getMessage()).startsWith("moving " + namespace + "/" + moved + " (").contains("m CPU used, 1 vCPUs) from rbc-1 to rbc-2")
          .contains("CPU pressure");
    });
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(scene.rebalancing("rbc-1"))
        .hasValueSatisfying(c -> assertThat(c.getReason()).isEqualTo("Balanced")));
    assertThat(scene.rebalancing("rbc-1").orElseThrow().getMessage()).contains("vCPUs committed of 16");
    // Both nodes carry one busy guest now, under the threshold: nothing goes back or on.
    Thread.sleep(30_000);
    assertThat(scene.rebalanceMigrations()).as("and nothing more moves").hasSize(1);
  }

  private Host host(String node) {
    return testbed.nodes.host(node);
  }

  private static void cpuThresholds(int threshold, int watermark) {
    client.resources(HypervisorClass.class).withName(CLASS).edit(c -> {
      c.getSpec().rebalancing.cpuThresholdPercent = threshold;
      c.getSpec().rebalancing.cpuWatermarkPercent = watermark;
      return c;
    });
  }

  /** The guest's CPU time as {@code virsh domstats} reports it. */
  private static long cpuNanos(Host host, String uid) throws Exception {
    String stats = Virsh.run(host, "domstats", "--cpu-total", uid);
    Matcher time = Pattern.compile("cpu\\.time=(\\d+)").matcher(stats);
    assertThat(time.find()).as(stats).isTrue();
    return Long.parseLong(time.group(1));
  }

  private VirtualMachine burning(String name, Path disk) {
    return scene.create("""
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
        """.formatted(name, CLASS, scene.storageClass, disk));
  }
}
