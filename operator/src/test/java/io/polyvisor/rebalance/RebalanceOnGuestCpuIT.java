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
import io.polyvisor.testing.CounterGuest;
import io.polyvisor.testing.LinuxGuest;
import io.polyvisor.testing.NodeRegistration;
import io.polyvisor.testing.Virsh;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Rebalancing on the CPU guests really use: two Linux guests that, from 150 s after boot, keep
 * their CPU busy 60% of each second from inside, on one of two libvirtd nodes of 2 CPUs. Their
 * boot, a burst of a whole CPU each, moves nothing. What is
 * committed stays low (2 vCPUs of the 16 a node holds at the default overcommit); what the
 * hypervisor counts in CPU time passes the class's CPU threshold (set from what the busy guests are
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
    NodeRegistration.cordon(client, "rbc-2", false);

    // While the guests boot (a burst of a whole CPU each, under emulation) and then only count,
    // nothing moves: use is measured over a minute, from a minute after a guest appears.
    await().during(Duration.ofSeconds(130)).atMost(Duration.ofSeconds(140)).pollInterval(Duration.ofSeconds(1))
        .until(() -> scene.rebalanceMigrations().isEmpty());

    // Out of the way while the busy guests' use is measured here, through libvirt's own client:
    // the thresholds are set from it, so that the pair is over on one node and each under once
    // apart, however fast this machine is. Both are measured over the same 45 s, the pair as the
    // operator sums it: how much each gets depends on what else this machine runs meanwhile.
    // Each guest's init counts on the serial port about once a second, and starts its busy loop
    // 150 s after it starts counting: from count 160 on, the loop has run 10 s or more, however
    // long the boot took under emulation on a loaded machine.
    cpuThresholds(99, 98);
    await().atMost(Duration.ofMinutes(4)).pollInterval(Duration.ofSeconds(1)).until(() -> {
      for (VirtualMachine vm : vms) {
        if (CounterGuest.readCount(work.resolve(namespace + "_" + vm.getMetadata().getName() + ".log")).size() <= 160) {
          return false;
        }
      }
      return true;
    });
    Map<String, Long> millicpu = millicpu(vms, Duration.ofSeconds(45));
    long pair = millicpu.values().stream().mapToLong(Long::longValue).sum();
    long busiest = millicpu.values().stream().mapToLong(Long::longValue).max().orElseThrow();
    // Percent of the node's 2 CPUs (2000m): 85% of the pair's use, 115% of the busier one's.
    int threshold = (int) Math.floor(pair * 0.85 / 20);
    int watermark = (int) Math.ceil(busiest * 1.15 / 20);
    assertThat(watermark).as("the busy guests use %s", millicpu).isLessThan(threshold).isPositive();
    assertThat(threshold).as("above the committed vCPUs' 13%%: what moves is measured use").isGreaterThan(13);
    cpuThresholds(threshold, watermark);

    try {
      await().atMost(Duration.ofSeconds(180)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() ->
          assertThat(scene.rebalanceMigrations()).singleElement().satisfies(m -> {
            assertThat(m.getStatus().phase).isEqualTo(MigrationPhase.Succeeded);
            assertThat(m.getStatus().sourceNode + " -> " + m.getStatus().targetNode).isEqualTo("rbc-1 -> rbc-2");
          }));
    } catch (ConditionTimeoutException e) {
      // Say what libvirt and the operator saw, so that a failure on a loaded machine can be read.
      throw new AssertionError("no rebalance of rbc-1 with thresholds %d/%d set from %s; now the guests use %s; rbc-1's condition: %s; migrations: %s"
          .formatted(threshold, watermark, millicpu, millicpu(vms, Duration.ofSeconds(20)),
              scene.rebalancing("rbc-1").map(c -> c.getReason() + ": " + c.getMessage()).orElse("none"),
              scene.rebalanceMigrations().stream().map(m -> m.getMetadata().getName() + " " + m.getStatus().phase).toList()), e);
    }
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

  /** What each guest used of its host's CPUs over {@code span}, in millicpu, by name, from {@code virsh domstats}. */
  private Map<String, Long> millicpu(List<VirtualMachine> vms, Duration span) throws Exception {
    Map<String, Long> before = new LinkedHashMap<>();
    for (VirtualMachine vm : vms) {
      before.put(vm.getMetadata().getName(), cpuNanos(vm));
    }
    Thread.sleep(span.toMillis());
    Map<String, Long> used = new LinkedHashMap<>();
    for (VirtualMachine vm : vms) {
      used.put(vm.getMetadata().getName(), (cpuNanos(vm) - before.get(vm.getMetadata().getName())) / span.toMillis() / 1000);
    }
    return used;
  }

  /** The guest's CPU time as {@code virsh domstats} reports it, on the node its status names. */
  private long cpuNanos(VirtualMachine vm) throws Exception {
    String stats = Virsh.run(host(scene.get(vm).getStatus().nodeName), "domstats", "--cpu-total", vm.getMetadata().getUid());
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
