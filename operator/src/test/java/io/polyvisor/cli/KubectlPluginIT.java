package io.polyvisor.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.libvirt.LibvirtDriver;
import io.polyvisor.evacuation.EvacuationReconciler;
import io.polyvisor.testing.ClassTestbed;
import io.polyvisor.testing.Kubectl;
import io.polyvisor.testing.Virsh;
import io.polyvisor.testing.Kubectl.Run;
import io.polyvisor.testing.KvmNodes;
import io.polyvisor.testing.NodeRegistration;
import io.polyvisor.testing.RealApiServer;
import io.polyvisor.testing.TestManifests;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code kubectl polyvisor} as a person runs it: the real kubectl finds the plugin on the PATH
 * and runs it against the real API server, with the operator and three libvirtd nodes behind.
 */
class KubectlPluginIT {

  private static final String CLASS = "it-cli";
  private static final String STORAGE = "it-cli-local";
  private static final List<String> NODES = List.of("cli-1", "cli-2", "cli-3");

  @TempDir static Path work;
  private static ClassTestbed testbed;
  private static KubernetesClient client;
  private static KvmNodes nodes;
  private static LibvirtDriver libvirt;
  private static Kubectl kubectl;
  private String namespace;

  @BeforeAll
  static void startEverything() throws Exception {
    testbed = ClassTestbed.start(work, CLASS, STORAGE, NODES, "1Gi", c -> { },
        Map.of("POLYVISOR_CONSOLE_LOG_DIR", work.toString(), "POLYVISOR_RESYNC_PERIOD_SECONDS", "30"));
    client = testbed.client;
    nodes = testbed.nodes;
    libvirt = testbed.libvirt;
    kubectl = new Kubectl(work);
  }

  @AfterAll
  static void stopEverything() {
    if (testbed != null) {
      testbed.close();
    }
  }

  @BeforeEach
  void namespace() {
    namespace = RealApiServer.newNamespace("cli");
  }

  @AfterEach
  void cleanUp() {
    for (String node : NODES) {
      NodeRegistration.cordon(client, node, false);
    }
    bandwidth(0);
    client.resources(VirtualMachine.class).inNamespace(namespace).delete();
    await().atMost(Duration.ofSeconds(90))
        .until(() -> client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems().isEmpty());
  }

  @Test
  void thePlanForANodeIsWhatCordoningItThenDoesAndTheEvacuationCanBeWatchedToItsEnd() throws Exception {
    List<VirtualMachine> vms = vmsOn("cli-1", "p1", "p2", "p3");

    Run table = kubectl("polyvisor", "plan", "cli-1");
    assertThat(table.exit()).as(table.err()).isZero();
    assertThat(table.out()).contains("Drain plan for node cli-1 (class it-cli), if it were cordoned now:")
        .contains("Parallelism: 2 at once: parallelOutboundPerNode 2, parallelPerCluster 5.")
        .contains("The node would end empty.");
    Run json = kubectl("polyvisor", "plan", "cli-1", "-o", "json");
    assertThat(json.exit()).as(json.err()).isZero();
    JsonNode plan = new ObjectMapper().readTree(json.out());
    Map<String, String> planned = new HashMap<>();
    for (JsonNode vm : plan.get("vms")) {
      assertThat(vm.get("action").asText()).isEqualTo("Move");
      planned.put(vm.get("vm").asText(), vm.get("target").asText());
    }
    assertThat(planned).hasSize(3);
    assertThat(plan.get("endsEmpty").asBoolean()).isTrue();
    assertThat(plan.get("expectedSeconds").asDouble()).isPositive();
    assertThat(kubectl("polyvisor", "plan", "cli-1", "-o", "yaml").out()).contains("endsEmpty: true");
    assertThat(client.nodes().withName("cli-1").get().getSpec().getUnschedulable()).as("the plan changes nothing").isNotEqualTo(true);
    assertThat(client.resources(VirtualMachineMigration.class).inNamespace(namespace).list().getItems()).isEmpty();

    NodeRegistration.cordon(client, "cli-1", true);
    CompletableFuture<Run> watch = CompletableFuture.supplyAsync(() -> kubectl("polyvisor", "evacuation", "cli-1", "--interval", "0.5"));

    Run watched = watch.get(180, TimeUnit.SECONDS);
    assertThat(watched.exit()).as(watched.err()).isZero();
    assertThat(watched.out()).contains("Evacuation of cli-1: Completed - all 3 VMs moved; no VM of ours runs on cli-1")
        .containsPattern("expected to take \\d+ s: 3 VMs, 2 at once, at [0-9.]+ MiB/s")
        .containsPattern("Completed: the evacuation took \\d+ s; the drain plan expected \\d+ s\\.");
    for (VirtualMachine vm : vms) {
      String key = namespace + "/" + vm.getMetadata().getName();
      VirtualMachine moved = get(vm);
      assertThat(moved.getStatus().nodeName).as("where %s went", key).isEqualTo(planned.get(key));
      assertThat(libvirt.find(nodes.host(planned.get(key)), vm.getMetadata().getUid())).map(GuestInfo::state).contains(GuestState.RUNNING);
      assertThat(libvirt.find(nodes.host("cli-1"), vm.getMetadata().getUid())).isEmpty();
      assertThat(watched.out()).contains(key);
    }
    assertThat(client.v1().events().inNamespace("default").list().getItems()).anySatisfy(e -> {
      assertThat(e.getInvolvedObject().getName()).isEqualTo("cli-1");
      assertThat(e.getReason()).isEqualTo("EvacuationDuration");
      assertThat(e.getMessage()).matches("the evacuation took \\d+ s; the drain plan expected \\d+ s");
    });

    Run status = kubectl("polyvisor", "status");
    assertThat(status.exit()).as(status.err()).isZero();
    assertThat(status.out()).containsPattern("cli-1\\s+it-cli\\s+True\\s+True\\s+0\\s+0/1Gi\\s+0%\\s+0/16\\s+Completed");
  }

  @Test
  void migrateMovesAVmToTheNamedNodeAndCancelStopsAMigrationWithTheGuestKeptOnItsSource() throws Exception {
    VirtualMachine vm = vmsOn("cli-1", "mover").get(0);

    Run migrate = kubectl("polyvisor", "migrate", "mover", "--to", "cli-3", "-n", namespace);
    assertThat(migrate.exit()).as(migrate.err()).isZero();
    assertThat(migrate.out()).startsWith("virtualmachinemigration/mover-").contains(" created: " + namespace + "/mover to cli-3");
    await().atMost(Duration.ofSeconds(60)).until(() -> "cli-3".equals(get(vm).getStatus().nodeName));
    assertThat(libvirt.find(nodes.host("cli-3"), vm.getMetadata().getUid())).map(GuestInfo::state).contains(GuestState.RUNNING);
    assertThat(libvirt.find(nodes.host("cli-1"), vm.getMetadata().getUid())).isEmpty();

    bandwidth(1);
    Run slow = kubectl("polyvisor", "migrate", "mover", "-n", namespace);
    assertThat(slow.exit()).as(slow.err()).isZero();
    String name = slow.out().substring("virtualmachinemigration/".length(), slow.out().indexOf(' '));
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).until(() -> phase(name) == MigrationPhase.Running);
    // Even at 1 MiB/s, and allowed no pause at the switch-over, a guest converges within seconds on
    // a loaded machine (its vCPU, starved, dirties nothing between two syncs), sooner than a kubectl
    // process starts. At 1 KiB/s its first pass over memory alone takes minutes: the cancel always
    // meets the transfer under way.
    Virsh.capMigrationBandwidth(nodes.host("cli-3"), vm.getMetadata().getUid(), 1024);
    Virsh.allowNoDowntime(nodes.host("cli-3"), vm.getMetadata().getUid());
    assertThat(Virsh.run(nodes.host("cli-3"), "domjobinfo", vm.getMetadata().getUid()))
        .as("the transfer is under way on the source when the cancel is asked").containsPattern("Job type:\\s+Unbounded");

    Run cancel = kubectl("polyvisor", "cancel", name, "-n", namespace);
    assertThat(cancel.exit()).as(cancel.err()).isZero();
    assertThat(cancel.out()).startsWith("virtualmachinemigration/" + name + " cancel requested");
    await().atMost(Duration.ofSeconds(60)).until(() -> phase(name) == MigrationPhase.Aborted);
    assertThat(get(vm).getStatus().nodeName).isEqualTo("cli-3");
    assertThat(libvirt.find(nodes.host("cli-3"), vm.getMetadata().getUid())).map(GuestInfo::state).contains(GuestState.RUNNING);
    for (String other : List.of("cli-1", "cli-2")) {
      assertThat(libvirt.find(nodes.host(other), vm.getMetadata().getUid())).as("a copy on " + other).isEmpty();
    }

    Run again = kubectl("polyvisor", "cancel", name, "-n", namespace);
    assertThat(again.exit()).isEqualTo(1);
    assertThat(again.err()).isEqualTo("error: virtualmachinemigration \"" + name + "\" has already ended (Aborted): nothing to cancel\n");
  }

  @Test
  void namesThatDoNotExistAreSaidAsTheUserTypedThem() {
    assertError(kubectl("polyvisor", "plan", "no-such-node"), "node \"no-such-node\" not found (kubectl get nodes lists them)");
    assertError(kubectl("polyvisor", "evacuation", "no-such-node"), "node \"no-such-node\" not found (kubectl get nodes lists them)");
    assertError(kubectl("polyvisor", "migrate", "ghost", "-n", namespace), "virtualmachine \"ghost\" not found in namespace " + namespace);
    assertError(kubectl("polyvisor", "cancel", "ghost-mig", "-n", namespace), "virtualmachinemigration \"ghost-mig\" not found in"
        + " namespace " + namespace + " (kubectl get pvmim -n " + namespace + " lists them)");
    assertError(kubectl("polyvisor", "evacuation", "cli-2"), "node \"cli-2\" is not cordoned, so it is not being evacuated"
        + " (kubectl polyvisor plan cli-2 shows what a cordon would do)");
    Run usage = kubectl("polyvisor", "plan");
    assertThat(usage.exit()).isEqualTo(2);
    assertThat(usage.err()).contains("Missing required parameter: 'NODE'");
  }

  private static void assertError(Run run, String message) {
    assertThat(run.exit()).as(run.out()).isEqualTo(1);
    assertThat(run.err()).isEqualTo("error: " + message + "\n");
  }

  private static Run kubectl(String... args) {
    return kubectl.run(args);
  }

  /** Creates counter VMs and waits until they run on {@code node}: the other nodes are cordoned meanwhile. */
  private List<VirtualMachine> vmsOn(String node, String... names) throws Exception {
    NODES.stream().filter(n -> !n.equals(node)).forEach(n -> NodeRegistration.cordon(client, n, true));
    List<VirtualMachine> vms = new ArrayList<>();
    for (String name : names) {
      VirtualMachine vm = client.getKubernetesSerialization()
          .unmarshal(TestManifests.counterVm(name, CLASS, "Always", "32Mi", STORAGE, testbed.image), VirtualMachine.class);
      vms.add(client.resource(vm).inNamespace(namespace).create());
    }
    for (VirtualMachine vm : vms) {
      // Three guests booting under emulation on two cores: a minute is not always enough.
      await().atMost(Duration.ofSeconds(120)).until(() -> get(vm).getStatus() != null && get(vm).getStatus().phase == VirtualMachinePhase.Running);
      assertThat(get(vm).getStatus().nodeName).isEqualTo(node);
    }
    NODES.stream().filter(n -> !n.equals(node)).forEach(n -> NodeRegistration.cordon(client, n, false));
    // The evacuations of the emptied nodes have ended before the test cordons anything.
    await().atMost(Duration.ofSeconds(30)).until(() -> NODES.stream().filter(n -> !n.equals(node)).allMatch(n -> evacuation(n)
        .map(c -> "False".equals(c.getStatus())).orElse(true)));
    return vms;
  }

  private java.util.Optional<NodeCondition> evacuation(String node) {
    return client.nodes().withName(node).get().getStatus().getConditions().stream()
        .filter(c -> EvacuationReconciler.CONDITION.equals(c.getType())).findFirst();
  }

  private MigrationPhase phase(String migration) {
    VirtualMachineMigration m = client.resources(VirtualMachineMigration.class).inNamespace(namespace).withName(migration).get();
    return m == null || m.getStatus() == null ? null : m.getStatus().phase;
  }

  private VirtualMachine get(VirtualMachine vm) {
    return client.resources(VirtualMachine.class).inNamespace(namespace).withName(vm.getMetadata().getName()).get();
  }

  private static void bandwidth(int mibPerSecond) {
    client.resources(HypervisorClass.class).withName(CLASS).edit(c -> {
      c.getSpec().migration.bandwidthMiBps = mibPerSecond;
      return c;
    });
  }
}
