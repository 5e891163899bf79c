package io.polyvisor.vm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.storage.StorageClassBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.api.v1alpha1.VirtualMachineStatus;
import io.polyvisor.driver.Host;
import io.polyvisor.evacuation.EvacuationReconciler;
import io.polyvisor.operator.OperatorSettings;
import io.polyvisor.operator.PolyvisorOperator;
import io.polyvisor.testing.NodeRegistration;
import io.polyvisor.testing.RealApiServer;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.testing.hyperv.HyperVNetwork;
import io.polyvisor.testing.hyperv.SimulatedHyperVHost;
import io.polyvisor.testing.hyperv.TestCertificate;
import io.polyvisor.testing.hyperv.WinRmSimulator;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * VMs of a Hyper-V class, end to end from kubectl's side: a real API server and the operator in
 * this JVM, and two Hyper-V hosts played by the WinRM simulator (no Windows host is reachable
 * here), reached over HTTPS with the credentials Secret the class names.
 */
class HyperVReconcilerIT {

  private static final String CLASS = "it-hyperv";
  private static final String SMB3 = "it-hyperv-smb3";
  private static final String SMB2 = "it-hyperv-smb2";
  private static final List<String> NODES = List.of("it-hv-a", "it-hv-b");

  private static KubernetesClient client;
  private static PolyvisorOperator operator;
  private static final Map<String, WinRmSimulator> hosts = new java.util.HashMap<>();
  private static final HyperVNetwork network = new HyperVNetwork();
  private String namespace;

  @BeforeAll
  static void startEverything() throws Exception {
    client = RealApiServer.client();
    TestCertificate certificate = TestCertificate.shared();
    for (String node : NODES) {
      SimulatedHyperVHost host = new SimulatedHyperVHost(network, node.toUpperCase(), 2L << 30, 4).enableMigration()
          .share("\\\\fs3\\vms", "3.02").share("\\\\fs2\\old", "2.1");
      WinRmSimulator simulator = new WinRmSimulator(host, "polyvisor", "it-password", certificate.keyStore());
      hosts.put(node, simulator);
      NodeRegistration.register(new Host(node, simulator.endpoint().toString()), "2Gi", CLASS);
    }
    String secretNamespace = RealApiServer.newNamespace("hv-creds");
    client.resource(new SecretBuilder().withNewMetadata().withName("winrm").withNamespace(secretNamespace).endMetadata()
        .withStringData(Map.of("username", "polyvisor", "password", "it-password", "ca.crt", certificate.pem()))
        .build()).create();
    client.resource("""
        apiVersion: polyvisor.io/v1alpha1
        kind: HypervisorClass
        metadata:
          name: %s
        spec:
          driver: hyperv
          nodeSelector: {polyvisor.io/hypervisor: %s}
          connection:
            endpoint: "https://{node.address}:5986/wsman"
            credentialsSecretRef: {name: winrm, namespace: %s}
        """.formatted(CLASS, CLASS, secretNamespace)).serverSideApply();
    for (var share : Map.of(SMB3, "\\\\fs3\\vms", SMB2, "\\\\fs2\\old").entrySet()) {
      client.resource(new StorageClassBuilder().withNewMetadata().withName(share.getKey()).endMetadata()
          .withProvisioner("hyperv.polyvisor.io").withParameters(Map.of("path", share.getValue(), "shared", "true"))
          .build()).serverSideApply();
    }
    operator = PolyvisorOperator.start(client, settings(), null);
  }

  private static OperatorSettings settings() {
    return new OperatorSettings(Optional.empty(), Duration.ofSeconds(5), Duration.ofSeconds(3), Duration.ofSeconds(5),
        Duration.ofSeconds(20));
  }

  @AfterAll
  static void stopEverything() {
    if (operator != null) {
      operator.close();
    }
    hosts.values().forEach(WinRmSimulator::close);
    NODES.forEach(n -> client.nodes().withName(n).delete());
  }

  @BeforeEach
  void namespace() {
    namespace = RealApiServer.newNamespace("hv");
  }

  @AfterEach
  void deleteVms() {
    client.resources(VirtualMachineMigration.class).inNamespace(namespace).delete();
    NODES.forEach(n -> NodeRegistration.cordon(client, n, false));
    client.resources(VirtualMachine.class).inNamespace(namespace).delete();
    await().atMost(Duration.ofSeconds(60))
        .until(() -> client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems().isEmpty());
  }

  @Test
  void aVmRunsOnAHyperVHostAndLeavesNothingThereWhenDeleted() {
    VirtualMachine vm = awaitPhase(apply("web", SMB3), VirtualMachinePhase.Running);

    SimulatedHyperVHost host = hosts.get(vm.getStatus().nodeName).host();
    String guest = namespace + "_web";
    assertThat(host.stateOf(guest)).contains("Running");
    assertThat(host.propertiesOf(guest).orElseThrow()).containsEntry("MemoryStartup", 256L << 20)
        .containsEntry("ProcessorCount", 2L);
    assertThat(host.disksOf(guest)).singleElement().asString().startsWith("\\\\fs3\\vms\\" + namespace + "_web_root-")
        .endsWith(".vhdx");
    assertThat(condition(vm, VirtualMachineStatus.READY).getStatus()).isEqualTo("True");
    assertThat(condition(vm, VirtualMachineStatus.LIVE_MIGRATABLE).getStatus()).isEqualTo("True");

    client.resource(vm).delete();

    await().atMost(Duration.ofSeconds(60)).until(() -> get(vm) == null);
    assertThat(host.vmNames()).doesNotContain(guest);
    assertThat(host.filePaths()).noneMatch(p -> p.contains(namespace));
  }

  @Test
  void aDiskOnAShareOlderThanSmb3IsReportedOnTheVmAndNoGuestIsCreated() {
    VirtualMachine vm = apply("legacy", SMB2);

    await().atMost(Duration.ofSeconds(60)).until(() -> get(vm), v -> v.getStatus() != null
        && Conditions.find(v.getStatus().conditions, VirtualMachineStatus.READY)
            .filter(c -> "ProvisioningFailed".equals(c.getReason())).isPresent());
    Condition ready = condition(get(vm), VirtualMachineStatus.READY);
    assertThat(ready.getStatus()).isEqualTo("False");
    assertThat(ready.getMessage()).matches("disk root: share \\\\\\\\fs2\\\\old speaks SMB 2\\.1 to it-hv-[ab]; Hyper-V keeps VM"
        + " files only on SMB 3\\.0 or later: upgrade the file server or point the StorageClass's parameters\\.path at"
        + " another share");
    assertThat(get(vm).getStatus().phase).isEqualTo(VirtualMachinePhase.Provisioning);
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(events(vm))
        .anyMatch(e -> "Warning".equals(e.getType()) && e.getMessage().contains("speaks SMB 2.1")));
    hosts.values().forEach(h -> assertThat(h.host().vmNames()).noneMatch(n -> n.startsWith(namespace)));
  }

  @Test
  void aGuestTurnedOffBehindTheOperatorsBackIsStartedAgainByTheResync() {
    VirtualMachine vm = awaitPhase(apply("phoenix", SMB3), VirtualMachinePhase.Running);
    SimulatedHyperVHost host = hosts.get(vm.getStatus().nodeName).host();

    host.turnOffBehindTheOperatorsBack(namespace + "_phoenix");

    // Hyper-V pushes no events over WinRM: the periodic resync (3 s here) finds the guest off.
    await().atMost(Duration.ofSeconds(30)).until(() -> host.stateOf(namespace + "_phoenix").equals(Optional.of("Running"))
        // Said again, the same Event is counted on the one already written.
        && events(vm).stream().filter(e -> "Started".equals(e.getReason())).mapToInt(e -> e.getCount()).sum() >= 2);
    assertThat(host.vmNames().stream().filter(n -> n.equals(namespace + "_phoenix"))).hasSize(1);
  }

  @Test
  void haltingAHyperVVmShutsItsGuestDownWithoutCuttingThePower() {
    VirtualMachine vm = awaitPhase(apply("halting", SMB3), VirtualMachinePhase.Running);
    SimulatedHyperVHost host = hosts.get(vm.getStatus().nodeName).host();

    client.resources(VirtualMachine.class).inNamespace(namespace).withName("halting")
        .edit(v -> { v.getSpec().runStrategy = io.polyvisor.api.v1alpha1.RunStrategy.Halted; return v; });

    // The guest goes down by itself, well inside the 5 s grace period, once it has been asked.
    awaitPhase(vm, VirtualMachinePhase.Stopped);
    assertThat(host.stateOf(namespace + "_halting")).contains("Off");
    assertThat(host.guestShutdowns()).as("the guest shut itself down").contains(namespace + "_halting");
    assertThat(events(vm)).extracting(Event::getReason).contains("Stopping").doesNotContain("ForcedOff");
  }

  @Test
  void cordoningAHyperVNodeLiveMigratesItsVmsToTheOtherOne() {
    network.migrationBandwidth(256L << 20);
    VirtualMachine vm = awaitPhase(apply("mover", SMB3), VirtualMachinePhase.Running);
    String from = vm.getStatus().nodeName;
    String to = NODES.stream().filter(n -> !n.equals(from)).findFirst().orElseThrow();
    List<List<String>> copies = new java.util.concurrent.CopyOnWriteArrayList<>();
    var watcher = java.util.concurrent.Executors.newSingleThreadScheduledExecutor();
    watcher.scheduleWithFixedDelay(() -> copies.add(network.hostsRunning(namespace + "_mover")), 0, 50,
        java.util.concurrent.TimeUnit.MILLISECONDS);

    NodeRegistration.cordon(client, from, true);

    try {
      await().atMost(Duration.ofSeconds(60)).until(() -> evacuation(from).filter(c -> "Completed".equals(c.getReason())).isPresent());
    } finally {
      watcher.shutdownNow();
    }
    assertThat(get(vm).getStatus().nodeName).isEqualTo(to);
    assertThat(copies).as("one running copy at every instant").allMatch(c -> c.size() == 1)
        .contains(List.of(from.toUpperCase()), List.of(to.toUpperCase()));
    VirtualMachineMigration migration = client.resources(VirtualMachineMigration.class).inNamespace(namespace).list()
        .getItems().get(0);
    assertThat(migration.getStatus().phase).isEqualTo(MigrationPhase.Succeeded);
    assertThat(migration.getStatus().progressPercent).isEqualTo(100);
  }

  @Test
  void aTransferTheHostCarriesOnAfterAnOperatorRestartIsFollowedToItsEnd() throws Exception {
    network.migrationBandwidth(32L << 20); // 256 MiB: 8 s
    VirtualMachine vm = awaitPhase(apply("orphan", SMB3), VirtualMachinePhase.Running);
    String from = vm.getStatus().nodeName;
    String to = NODES.stream().filter(n -> !n.equals(from)).findFirst().orElseThrow();
    VirtualMachineMigration migration = client.getKubernetesSerialization().unmarshal("""
        apiVersion: polyvisor.io/v1alpha1
        kind: VirtualMachineMigration
        metadata: {name: orphan-move, namespace: %s}
        spec: {vmName: orphan, targetNode: %s}
        """.formatted(namespace, to), VirtualMachineMigration.class);
    client.resource(migration).create();
    await().atMost(Duration.ofSeconds(30)).until(() -> {
      var m = client.resource(migration).get();
      return m.getStatus() != null && m.getStatus().progressPercent != null && m.getStatus().progressPercent > 0;
    });

    operator.close(); // its Move-VM command dies with it; the host's migration goes on
    operator = PolyvisorOperator.start(client, settings(), null);

    VirtualMachineMigration done = await().atMost(Duration.ofSeconds(60)).until(() -> client.resource(migration).get(),
        m -> m.getStatus().phase == MigrationPhase.Succeeded || m.getStatus().phase == MigrationPhase.Failed);
    assertThat(done.getStatus().phase).as(done.getStatus().message).isEqualTo(MigrationPhase.Succeeded);
    assertThat(network.hostsRunning(namespace + "_orphan")).containsExactly(to.toUpperCase());
    await().atMost(Duration.ofSeconds(30)).until(() -> to.equals(get(vm).getStatus().nodeName));
  }

  @Test
  void aRunningDynamicMemoryVmTakesWhatHyperVAllowsLiveAndSaysWhatWaitsForARestart() {
    VirtualMachine vm = awaitPhase(apply("elastic", SMB3, "{policy: Dynamic, size: 256Mi, minimum: 128Mi, maximum: 512Mi}"),
        VirtualMachinePhase.Running);
    SimulatedHyperVHost host = hosts.get(vm.getStatus().nodeName).host();
    String guest = namespace + "_elastic";
    assertThat(host.secureBootOf(guest)).contains("MicrosoftUEFICertificateAuthority");
    assertThat(host.bootedFrom(guest)).as("a Linux guest boots under the class's default Secure Boot").isPresent();

    client.resources(VirtualMachine.class).inNamespace(namespace).withName("elastic").edit(v -> {
      v.getSpec().memory.bufferPercent = 40;
      v.getSpec().memory.maximum = "1Gi";
      return v;
    });

    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(host.memoryOf(guest).orElseThrow())
        .containsEntry("Buffer", 40L).containsEntry("Maximum", 1L << 30).containsEntry("Minimum", 128L << 20));
    assertThat(host.stateOf(guest)).as("changed while it runs").contains("Running");
    assertThat(host.guestShutdowns()).doesNotContain(guest);
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
      assertThat(condition(get(vm), VirtualMachineStatus.RESTART_REQUIRED).getStatus()).isEqualTo("False");
      assertThat(events(vm)).extracting(Event::getReason).contains("MemoryChanged");
    });

    client.resources(VirtualMachine.class).inNamespace(namespace).withName("elastic").edit(v -> {
      v.getSpec().memory.minimum = "192Mi";
      return v;
    });

    Condition restart = await().atMost(Duration.ofSeconds(30)).until(
        () -> condition(get(vm), VirtualMachineStatus.RESTART_REQUIRED), c -> "True".equals(c.getStatus()));
    assertThat(restart.getMessage()).contains("minimum 128Mi → 192Mi: it can only go down while the guest runs");
    assertThat(host.memoryOf(guest).orElseThrow()).containsEntry("Minimum", 128L << 20);
    assertThat(host.stateOf(guest)).contains("Running");
  }

  private VirtualMachine apply(String name, String storageClass) {
    return apply(name, storageClass, "{size: 256Mi}");
  }

  private VirtualMachine apply(String name, String storageClass, String memory) {
    String manifest = """
        apiVersion: polyvisor.io/v1alpha1
        kind: VirtualMachine
        metadata:
          name: %s
          namespace: %s
        spec:
          hypervisorClassName: %s
          cpu: {cores: 2}
          memory: %s
          disks:
          - name: root
            storageClassName: %s
            size: 64Mi
        """.formatted(name, namespace, CLASS, memory, storageClass);
    return client.resource(client.getKubernetesSerialization().unmarshal(manifest, VirtualMachine.class)).create();
  }

  private Optional<NodeCondition> evacuation(String node) {
    return client.nodes().withName(node).get().getStatus().getConditions().stream()
        .filter(c -> EvacuationReconciler.CONDITION.equals(c.getType())).findFirst();
  }

  private VirtualMachine awaitPhase(VirtualMachine vm, VirtualMachinePhase phase) {
    return await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(250))
        .until(() -> get(vm), v -> v != null && v.getStatus() != null && v.getStatus().phase == phase);
  }

  private VirtualMachine get(VirtualMachine vm) {
    return client.resources(VirtualMachine.class).inNamespace(namespace).withName(vm.getMetadata().getName()).get();
  }

  private static Condition condition(VirtualMachine vm, String type) {
    return Conditions.find(vm.getStatus().conditions, type).orElseThrow(() -> new AssertionError("no " + type + " condition"));
  }

  private List<Event> events(VirtualMachine vm) {
    return client.v1().events().inNamespace(namespace).list().getItems().stream()
        .filter(e -> vm.getMetadata().getName().equals(e.getInvolvedObject().getName()))
        .toList();
  }
}
