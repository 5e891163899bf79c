package io.polyvisor.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.libvirt.LibvirtDriver;
import io.polyvisor.evacuation.EvacuationReconciler;
import io.polyvisor.planner.CpuModels;
import io.polyvisor.testing.CounterGuest;
import io.polyvisor.testing.Kubectl;
import io.polyvisor.testing.KvmNodes;
import io.polyvisor.testing.NodeRegistration;
import io.polyvisor.testing.OperatorProcess;
import io.polyvisor.testing.RealApiServer;
import io.polyvisor.testing.TestManifests;
import io.polyvisor.testing.Virsh;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * CPU models on nodes that differ: two real libvirtd nodes that offer this machine's KVM and one
 * that emulates (whose QEMU runs only older CPU models), the emulating one with the most room. A
 * guest that runs under KVM with host-model has the host's model; the drain plan (through the
 * kubectl plugin), the evacuation and the migration controller all pass over the emulating node,
 * which the operator's labels say cannot give that model. Skipped, saying so, where the machine
 * has no usable {@code /dev/kvm}.
 */
class CpuModelIT {

  private static final String CLASS = "it-cpumodel";
  private static final String STORAGE = "it-cpumodel-local";
  private static final String KVM_A = "cm-kvm-a";
  private static final String KVM_B = "cm-kvm-b";
  private static final String TCG = "cm-tcg";

  @TempDir Path work;

  @Test
  void theDrainPlanAndTheEvacuationPassOverANodeWhoseHypervisorCannotGiveTheGuestsCpuModel() throws Exception {
    Path kvm = Path.of("/dev/kvm");
    Assumptions.assumeTrue(Files.isReadable(kvm) && Files.isWritable(kvm), "no usable /dev/kvm on this machine");
    KubernetesClient client = RealApiServer.client();
    Kubectl kubectl = new Kubectl(work);
    try (KvmNodes accelerated = KvmNodes.start(work.resolve("kvm-nodes"), Map.of("POLYVISOR_NODE_KVM", "offer"), KVM_A, KVM_B);
        KvmNodes emulating = KvmNodes.start(work.resolve("tcg-nodes"), TCG);
        LibvirtDriver libvirt = new LibvirtDriver()) {
      for (Host host : accelerated.hosts()) {
        NodeRegistration.register(host, "1Gi", CLASS);
      }
      // Little room at first, so that the guest starts under KVM; the most room once it runs.
      NodeRegistration.register(emulating.host(TCG), "96Mi", CLASS);
      client.resource(TestManifests.hypervisorClass(CLASS, "libvirt", "qemu+tcp://{node.address}/system")
          .replace("  connection:", "  cpuModel: host-model\n  cpuFeatures: [{name: arch-capabilities, policy: disable}]\n  connection:"))
          .serverSideApply();
      client.resource(TestManifests.localStorageClass(STORAGE)).serverSideApply();
      Path image = CounterGuest.build(work);
      String namespace = RealApiServer.newNamespace("cpumodel");
      try (OperatorProcess operator = OperatorProcess.start(work.resolve("operator"),
          Map.of("POLYVISOR_CONSOLE_LOG_DIR", work.toString()))) {
        // The labels are what each node's hypervisor reports.
        for (String node : List.of(KVM_A, KVM_B, TCG)) {
          await().atMost(Duration.ofSeconds(60)).until(() -> !cpuModelLabels(client, node).isEmpty());
        }
        assertThat(cpuModelLabels(client, TCG)).containsKey(CpuModels.LABEL_PREFIX + "qemu64");
        String kvmHostModel = hostModel(Virsh.run(accelerated.host(KVM_A), "domcapabilities", "--virttype", "kvm"));
        assertThat(cpuModelLabels(client, KVM_A)).containsKey(CpuModels.LABEL_PREFIX + kvmHostModel);

        VirtualMachine vm = client.resource(client.getKubernetesSerialization()
            .unmarshal(TestManifests.counterVm("cpu", CLASS, "Always", "64Mi", STORAGE, image), VirtualMachine.class))
            .inNamespace(namespace).create();
        String uid = vm.getMetadata().getUid();
        await().atMost(Duration.ofSeconds(90)).until(() -> running(get(client, namespace)));
        String source = get(client, namespace).getStatus().nodeName;
        String other = source.equals(KVM_A) ? KVM_B : KVM_A;
        assertThat(source).isIn(KVM_A, KVM_B);
        Host sourceHost = accelerated.host(source);
        // The model is the one the running guest's live definition names.
        String live = Virsh.run(sourceHost, "dumpxml", uid);
        Matcher model = Pattern.compile("<cpu mode='custom'[^>]*>\\s*<model[^>]*>([^<]+)</model>").matcher(live);
        assertThat(model.find()).as("host-model expanded in the live definition:\n%s", live).isTrue();
        await().atMost(Duration.ofSeconds(30)).until(() -> model.group(1).equals(get(client, namespace).getStatus().cpuModel));
        String cpuModel = model.group(1);
        Assumptions.assumeFalse(cpuModelLabels(client, TCG).containsKey(CpuModels.LABEL_PREFIX + cpuModel),
            "emulation here runs this machine's own CPU model " + cpuModel + ": the nodes do not differ");
        Path console = work.resolve(namespace + "_cpu.log");
        await().atMost(Duration.ofSeconds(30)).until(() -> CounterGuest.readCount(console).size() >= 10);
        NodeRegistration.setAllocatableMemory(client, TCG, "8Gi");

        // The plan goes to the other KVM node, not to the emulating one with the most room.
        JsonNode plan = plan(kubectl, source);
        assertThat(plan.get("vms").get(0).get("target").asText()).as(plan.toString()).isEqualTo(other);
        // With that node cordoned, it has nowhere to go, and says why.
        NodeRegistration.cordon(client, other, true);
        JsonNode stuck = plan(kubectl, source);
        assertThat(stuck.get("endsEmpty").asBoolean()).isFalse();
        assertThat(stuck.get("vms").get(0).get("action").asText()).isEqualTo("Stays");
        assertThat(stuck.get("vms").get(0).get("why").asText()).contains("offers CPU model " + cpuModel)
            .contains(TCG + " lack the label " + CpuModels.LABEL_PREFIX + cpuModel);

        // The evacuation does what the plan said: blocked, the guest untouched, no move to the emulating node.
        NodeRegistration.cordon(client, source, true);
        await().atMost(Duration.ofSeconds(60)).until(() -> evacuation(client, source)
            .filter(c -> "Blocked".equals(c.getReason()) && c.getMessage().contains("CPU model " + cpuModel)).isPresent());
        assertThat(client.resources(VirtualMachineMigration.class).inNamespace(namespace).list().getItems()).isEmpty();
        assertThat(libvirt.find(sourceHost, uid)).map(GuestInfo::state).contains(GuestState.RUNNING);
        assertThat(libvirt.find(emulating.host(TCG), uid)).isEmpty();

        // Once the other KVM node takes VMs again, the guest moves there, counting on.
        NodeRegistration.cordon(client, other, false);
        await().atMost(Duration.ofSeconds(120)).until(() -> evacuation(client, source)
            .filter(c -> "Completed".equals(c.getReason())).isPresent());
        assertThat(libvirt.find(accelerated.host(other), uid)).map(GuestInfo::state).contains(GuestState.RUNNING);
        assertThat(libvirt.find(sourceHost, uid)).isEmpty();
        assertThat(libvirt.find(emulating.host(TCG), uid)).isEmpty();
        assertThat(get(client, namespace).getStatus().cpuModel).isEqualTo(cpuModel);
        int before = CounterGuest.readCount(console).size();
        await().atMost(Duration.ofSeconds(30)).until(() -> CounterGuest.readCount(console).size() >= before + 10);
        CounterGuest.assertContinuous(CounterGuest.readCount(console));

        NodeRegistration.cordon(client, source, false);
        client.resources(VirtualMachine.class).inNamespace(namespace).withName("cpu").delete();
        await().atMost(Duration.ofSeconds(60)).until(() -> get(client, namespace) == null);
      }
    }
  }

  private static JsonNode plan(Kubectl kubectl, String node) throws Exception {
    Kubectl.Run run = kubectl.run("polyvisor", "plan", node, "-o", "json");
    assertThat(run.exit()).as(run.err()).isZero();
    return new ObjectMapper().readTree(run.out());
  }

  /** The model host-model stands for in a domcapabilities document. */
  private static String hostModel(String domainCapabilities) {
    Matcher m = Pattern.compile("<mode name='host-model' supported='yes'>\\s*<model[^>]*>([^<]+)</model>").matcher(domainCapabilities);
    assertThat(m.find()).as(domainCapabilities).isTrue();
    return m.group(1);
  }

  private static Map<String, String> cpuModelLabels(KubernetesClient client, String node) {
    Map<String, String> labels = client.nodes().withName(node).get().getMetadata().getLabels();
    return labels.entrySet().stream().filter(e -> CpuModels.isLabel(e.getKey()))
        .collect(java.util.stream.Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
  }

  private static Optional<NodeCondition> evacuation(KubernetesClient client, String node) {
    return client.nodes().withName(node).get().getStatus().getConditions().stream()
        .filter(c -> EvacuationReconciler.CONDITION.equals(c.getType())).findFirst();
  }

  private static boolean running(VirtualMachine vm) {
    return vm != null && vm.getStatus() != null && vm.getStatus().phase == VirtualMachinePhase.Running;
  }

  private static VirtualMachine get(KubernetesClient client, String namespace) {
    return client.resources(VirtualMachine.class).inNamespace(namespace).withName("cpu").get();
  }
}
