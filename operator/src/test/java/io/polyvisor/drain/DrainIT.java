package io.polyvisor.drain;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.libvirt.LibvirtDriver;
import io.polyvisor.testing.CounterGuest;
import io.polyvisor.testing.KvmNodes;
import io.polyvisor.testing.NodeRegistration;
import io.polyvisor.testing.OperatorProcess;
import io.polyvisor.testing.RealApiServer;
import io.polyvisor.testing.TestManifests;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real {@code kubectl drain} against a real API server, with the operator as its own process,
 * two real libvirtd nodes and real QEMU guests: drain returns only once our VMs have left the node,
 * because each VM's placeholder pod cannot go before its guest has.
 *
 * <p>There is no kubelet here: placeholders stay Pending with their node set, and drain's eviction
 * of a Pending pod succeeds at once (PodDisruptionBudgets do not apply to it), which leaves the pod
 * terminating, held by the operator's finalizer, and drain waiting for it to be gone.
 */
class DrainIT {

  private static final String CLASS = "it-drain";
  private static final String STORAGE = "it-drain-local";
  private static final String A = "drain-1";
  private static final String B = "drain-2";

  @TempDir static Path work;
  private static KubernetesClient client;
  private static KvmNodes nodes;
  private static Path image;
  private static OperatorProcess operator;
  private static LibvirtDriver libvirt;
  private String namespace;

  @BeforeAll
  static void startEverything() throws Exception {
    client = RealApiServer.client();
    nodes = KvmNodes.start(work.resolve("nodes"), A, B);
    for (Host host : nodes.hosts()) {
      NodeRegistration.register(host, "1Gi", CLASS);
    }
    image = CounterGuest.build(work);
    client.resource(TestManifests.hypervisorClass(CLASS, "libvirt", "qemu+tcp://{node.address}/system")).serverSideApply();
    client.resource(TestManifests.localStorageClass(STORAGE)).serverSideApply();
    libvirt = new LibvirtDriver();
    operator = OperatorProcess.start(work.resolve("operator"), Map.of("POLYVISOR_CONSOLE_LOG_DIR", work.toString(),
        "POLYVISOR_RESYNC_PERIOD_SECONDS", "30"));
  }

  @AfterAll
  static void stopEverything() {
    if (operator != null) {
      operator.close();
    }
    if (libvirt != null) {
      libvirt.close();
    }
    if (nodes != null) {
      nodes.close();
    }
  }

  @BeforeEach
  void namespace() {
    // No ServiceAccount is created: the placeholder mounts no token, and this API server (like the
    // sandbox's) runs without the ServiceAccount admission plugin that would look for "default".
    namespace = RealApiServer.newNamespace("drain");
  }

  @AfterEach
  void cleanUp() {
    slowMigrations(0);
    cordon(A, false);
    cordon(B, false);
    client.resources(VirtualMachine.class).inNamespace(namespace).delete();
    await().atMost(Duration.ofSeconds(90))
        .until(() -> client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems().isEmpty());
  }

  @Test
  void drainReturnsOnlyAfterTheVmHasLeftTheNode() throws Exception {
    VirtualMachine vm = vmOn(A, "mover", "LiveMigrate");
    Pod placeholder = awaitOnePlaceholderOn(vm, A);
    assertThat(placeholder.getMetadata().getName()).startsWith("mover-guard-");
    assertThat(placeholder.getMetadata().getFinalizers()).containsExactly(PlaceholderPod.FINALIZER);
    assertThat(placeholder.getMetadata().getOwnerReferences()).singleElement().satisfies(owner -> {
      assertThat(owner.getKind()).isEqualTo("VirtualMachine");
      assertThat(owner.getUid()).isEqualTo(uid(vm));
      assertThat(owner.getController()).isTrue();
    });
    assertThat(placeholder.getSpec().getContainers()).singleElement()
        .satisfies(c -> assertThat(c.getImage()).isEqualTo("registry.k8s.io/pause:3.10"));
    // Slow enough that drain has seconds in which it could wrongly return.
    slowMigrations(2);

    try (KubectlDrain drain = KubectlDrain.start(work.resolve("kubectl"), A, Duration.ofSeconds(240))) {
      int samplesOnA = 0;
      Instant deadline = Instant.now().plus(Duration.ofSeconds(240));
      while (Instant.now().isBefore(deadline)) {
        boolean exited = !drain.isRunning();
        // Read after the exit check: if the VM is still on A now, it was on A when drain exited.
        boolean stillOnA = A.equals(get(vm).getStatus().nodeName);
        if (!stillOnA) {
          break;
        }
        assertThat(exited).as("kubectl drain exited while the VM still ran on %s:\n%s", A, drain.output()).isFalse();
        samplesOnA++;
        Thread.sleep(200);
      }
      assertThat(samplesOnA).as("drain was watched while the VM was still on %s", A).isGreaterThan(5);

      assertThat(drain.awaitExit(Duration.ofSeconds(120))).as("kubectl drain:\n%s", drain.output()).isZero();
      // At the moment drain returned, the guest was gone from A and ran on B.
      assertThat(libvirt.find(nodes.host(A), uid(vm))).as("guest left on %s", A).isEmpty();
      assertThat(libvirt.find(nodes.host(B), uid(vm))).map(GuestInfo::state).contains(GuestState.RUNNING);
      assertThat(drain.output()).contains("evicting pod " + namespace + "/" + placeholder.getMetadata().getName())
          .contains("node/" + A + " drained");
    }
    assertThat(get(vm).getStatus().nodeName).isEqualTo(B);
    Pod onB = awaitOnePlaceholderOn(vm, B);
    assertThat(onB.getMetadata().getDeletionTimestamp()).isNull();
    assertThat(client.pods().inNamespace(namespace).withName(placeholder.getMetadata().getName()).get()).isNull();
  }

  @Test
  void drainTimesOutWhileAVmThatMustNotMoveStaysAndItsPlaceholderStays() throws Exception {
    VirtualMachine vm = vmOn(A, "pinned", "None");
    Pod placeholder = awaitOnePlaceholderOn(vm, A);

    try (KubectlDrain drain = KubectlDrain.start(work.resolve("kubectl"), A, Duration.ofSeconds(20))) {
      assertThat(drain.awaitExit(Duration.ofSeconds(60))).as("kubectl drain:\n%s", drain.output()).isNotZero();
      assertThat(drain.output()).contains("evicting pod " + namespace + "/" + placeholder.getMetadata().getName());
    }

    assertThat(libvirt.find(nodes.host(A), uid(vm))).map(GuestInfo::state).contains(GuestState.RUNNING);
    assertThat(get(vm).getStatus().nodeName).isEqualTo(A);
    // Evicted but held: the same pod, terminating, and no second one beside it; still so after the
    // operator has had time to react to the eviction.
    Thread.sleep(5000);
    List<Pod> pods = placeholders(vm);
    assertThat(pods).singleElement().satisfies(p -> {
      assertThat(p.getMetadata().getUid()).isEqualTo(placeholder.getMetadata().getUid());
      assertThat(p.getMetadata().getDeletionTimestamp()).isNotNull();
      assertThat(p.getMetadata().getFinalizers()).contains(PlaceholderPod.FINALIZER);
      assertThat(p.getSpec().getNodeName()).isEqualTo(A);
    });

    cordon(A, false);
    assertThat(client.nodes().withName(A).get().getSpec().getUnschedulable()).isNotEqualTo(Boolean.TRUE);
  }

  @Test
  void deletingTheVmLeavesNoPlaceholderBehind() {
    VirtualMachine vm = vmOn(A, "short-lived", "LiveMigrate");
    awaitOnePlaceholderOn(vm, A);

    client.resources(VirtualMachine.class).inNamespace(namespace).withName("short-lived").delete();

    await().atMost(Duration.ofSeconds(60)).until(() -> get(vm) == null);
    await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(placeholders(vm)).isEmpty());
    assertThat(libvirt.find(nodes.host(A), uid(vm))).isEmpty();
  }

  // --- helpers ---------------------------------------------------------------------------------

  /** Creates a VM and waits until it runs on {@code node}: the other node is cordoned meanwhile. */
  private VirtualMachine vmOn(String node, String name, String evictionStrategy) {
    String other = node.equals(A) ? B : A;
    cordon(other, true);
    String manifest = TestManifests.counterVm(name, CLASS, "Always", "32Mi", STORAGE, image)
        .replace("  runStrategy: Always\n", "  runStrategy: Always\n  evictionStrategy: " + evictionStrategy + "\n");
    VirtualMachine vm = client.resource(client.getKubernetesSerialization().unmarshal(manifest, VirtualMachine.class))
        .inNamespace(namespace).create();
    await().atMost(Duration.ofSeconds(60))
        .until(() -> get(vm).getStatus() != null && get(vm).getStatus().phase == VirtualMachinePhase.Running);
    assertThat(get(vm).getStatus().nodeName).isEqualTo(node);
    cordon(other, false);
    return vm;
  }

  /** Waits until the VM has exactly one placeholder pod and it is on {@code node}. */
  private Pod awaitOnePlaceholderOn(VirtualMachine vm, String node) {
    await().atMost(Duration.ofSeconds(60)).untilAsserted(() -> assertThat(placeholders(vm)).singleElement()
        .satisfies(p -> assertThat(p.getSpec().getNodeName()).isEqualTo(node)));
    return placeholders(vm).get(0);
  }

  private List<Pod> placeholders(VirtualMachine vm) {
    return client.pods().inNamespace(namespace).withLabel(PlaceholderPod.VM_UID_LABEL, uid(vm)).list().getItems();
  }

  private VirtualMachine get(VirtualMachine vm) {
    return client.resources(VirtualMachine.class).inNamespace(namespace).withName(vm.getMetadata().getName()).get();
  }

  private static String uid(VirtualMachine vm) {
    return vm.getMetadata().getUid();
  }

  private static void cordon(String node, boolean cordoned) {
    NodeRegistration.cordon(client, node, cordoned);
  }

  /** Caps the class's migration bandwidth (MiB/s, 0 = unlimited). */
  private static void slowMigrations(int mibPerSecond) {
    client.resources(HypervisorClass.class).withName(CLASS)
        .edit(c -> { c.getSpec().migration.bandwidthMiBps = mibPerSecond; return c; });
  }
}
