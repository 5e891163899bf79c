package io.polyvisor.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two operator processes against one API server, electing a leader through a Lease, with real
 * libvirtd nodes and QEMU guests: only the leader acts, a standby takes over a move in progress,
 * and a deposed leader that wakes up again makes no hypervisor call.
 */
class LeaderHandOverIT {

  private static final String CLASS = "it-lead";
  private static final String STORAGE = "it-lead-local";
  private static final List<String> NODES = List.of("lead-1", "lead-2");

  @TempDir static Path work;
  private static KubernetesClient client;
  private static KvmNodes nodes;
  private static Path image;
  private static LibvirtDriver libvirt;
  private static String leaseNamespace;
  private final List<OperatorProcess> operators = new ArrayList<>();

  @BeforeAll
  static void startNodes() throws Exception {
    client = RealApiServer.client();
    nodes = KvmNodes.start(work.resolve("nodes"), NODES.toArray(String[]::new));
    for (Host host : nodes.hosts()) {
      NodeRegistration.register(host, "1Gi", CLASS);
    }
    image = CounterGuest.build(work);
    client.resource(TestManifests.hypervisorClass(CLASS, "libvirt", "qemu+tcp://{node.address}/system")).serverSideApply();
    client.resource(TestManifests.localStorageClass(STORAGE)).serverSideApply();
    libvirt = new LibvirtDriver();
    leaseNamespace = RealApiServer.newNamespace("lease");
  }

  @AfterAll
  static void stopNodes() {
    if (libvirt != null) {
      libvirt.close();
    }
    if (nodes != null) {
      nodes.close();
    }
  }

  @Test
  void aDeposedLeaderThatWakesUpMakesNoHypervisorCallAndTheNewLeaderFinishesTheMove() throws Exception {
    String namespace = RealApiServer.newNamespace("lead");
    OperatorProcess first = start("first");
    await().atMost(Duration.ofSeconds(30)).until(() -> holder() != null);
    OperatorProcess second = start("second");
    OperatorProcess leader = first.output().contains("leading as " + holder()) ? first : second;
    OperatorProcess standby = leader == first ? second : first;
    try {
      NodeRegistration.cordon(client, "lead-2", true);
      VirtualMachine vm = client.resource(client.getKubernetesSerialization().unmarshal(
          TestManifests.counterVm("handed-over", CLASS, "Always", "32Mi", STORAGE, image), VirtualMachine.class)).inNamespace(namespace).create();
      await().atMost(Duration.ofSeconds(60)).until(() -> phase(namespace, vm) == VirtualMachinePhase.Running);
      NodeRegistration.cordon(client, "lead-2", false);
      Path console = work.resolve(namespace + "_handed-over.log");
      await().atMost(Duration.ofSeconds(30)).until(() -> CounterGuest.readCount(console).size() >= 10);
      assertThat(standby.output()).as("the standby acted").doesNotContain("started the guest");

      // A Restart move: the guest ignores its shutdown request for the grace period (5 s). The
      // leader freezes in the middle of it (as in a long GC pause or a partition) past its Lease.
      VirtualMachineMigration migration = client.resource(client.getKubernetesSerialization().unmarshal("""
          apiVersion: polyvisor.io/v1alpha1
          kind: VirtualMachineMigration
          metadata: {name: hand-over}
          spec: {vmName: handed-over, targetNode: lead-2, method: Restart}
          """, VirtualMachineMigration.class)).inNamespace(namespace).create();
      await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100))
          .until(() -> phaseOf(client.resource(migration).get()) == MigrationPhase.Running);
      leader.freeze();
      await().atMost(Duration.ofSeconds(30)).until(() -> standby.output().contains("leading as"));
      leader.thaw();

      // The old leader's move thread wakes up within its shutdown wait and is refused its next
      // call; the process exits on the lost Lease.
      await().atMost(Duration.ofSeconds(30)).until(() -> !leader.alive());
      assertThat(leader.output()).contains("no more hypervisor actions from this process");
      VirtualMachineMigration done = await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(500))
          .until(() -> client.resource(migration).get(), m -> phaseOf(m) != null && phaseOf(m).isFinal());
      assertThat(done.getStatus().phase).as(done.getStatus().message).isEqualTo(MigrationPhase.Succeeded);
      assertThat(libvirt.find(nodes.host("lead-1"), vm.getMetadata().getUid())).isEmpty();
      assertThat(libvirt.find(nodes.host("lead-2"), vm.getMetadata().getUid())).map(g -> g.state()).contains(GuestState.RUNNING);
      // Started on the target exactly once: the count began again at 0 once, then ran on.
      await().atMost(Duration.ofSeconds(30)).until(() -> CounterGuest.readCount(console).stream().filter(c -> c == 0).count() == 2
          && CounterGuest.readCount(console).size() > 30);
      Thread.sleep(3000);
      assertThat(CounterGuest.readCount(console).stream().filter(c -> c == 0).count()).as("boots").isEqualTo(2);
      client.resources(VirtualMachine.class).inNamespace(namespace).delete();
      await().atMost(Duration.ofSeconds(60)).until(() -> client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems().isEmpty());
    } finally {
      operators.forEach(OperatorProcess::close);
    }
  }

  private OperatorProcess start(String name) throws Exception {
    OperatorProcess operator = OperatorProcess.start(work.resolve("operator-" + name), Map.of(
        "POLYVISOR_NAMESPACE", leaseNamespace,
        "POLYVISOR_LEASE_DURATION_SECONDS", "6",
        "POLYVISOR_LEASE_RENEW_DEADLINE_SECONDS", "4",
        "POLYVISOR_LEASE_RETRY_PERIOD_SECONDS", "1",
        "POLYVISOR_CONSOLE_LOG_DIR", work.toString(),
        "POLYVISOR_SHUTDOWN_GRACE_SECONDS", "5"));
    operators.add(operator);
    return operator;
  }

  private static String holder() {
    Lease lease = client.leases().inNamespace(leaseNamespace).withName("polyvisor-operator").get();
    return lease == null || lease.getSpec() == null ? null : lease.getSpec().getHolderIdentity();
  }

  private static VirtualMachinePhase phase(String namespace, VirtualMachine vm) {
    VirtualMachine current = client.resources(VirtualMachine.class).inNamespace(namespace).withName(vm.getMetadata().getName()).get();
    return current == null || current.getStatus() == null ? null : current.getStatus().phase;
  }

  private static MigrationPhase phaseOf(VirtualMachineMigration m) {
    return m == null || m.getStatus() == null ? null : m.getStatus().phase;
  }
}
