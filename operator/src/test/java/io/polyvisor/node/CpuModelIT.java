package io.polyvisor.node;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.HypervisorClass;
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
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * CPU models on nodes that differ: two real libvirtd nodes that emulate and one that offers this
 * machine's KVM, with the most room. Their hypervisors offer different CPU models (the testbed's
 * nested KVM offers only a few old ones, software emulation many more; on a host whose KVM offers
 * all that emulation does, there is no such model and the test is skipped, saying so, as it is
 * where the machine has no usable {@code /dev/kvm}). The class names a model that only the
 * emulating nodes offer: the VM starts on one of them, and the drain plan (through the kubectl
 * plugin), the evacuation and the migration controller all pass over the KVM node, which the
 * operator's labels say cannot give that model.
 */
class CpuModelIT {

  private static final String CLASS = "it-cpumodel";
  private static final String STORAGE = "it-cpumodel-local";
  private static final String TCG_A = "cm-tcg-a";
  private static final String TCG_B = "cm-tcg-b";
  private static final String KVM = "cm-kvm";

  @TempDir Path work;

  @Test
  void theDrainPlanAndTheEvacuationPassOverANodeWhoseHypervisorCannotGiveTheGuestsCpuModel() throws Exception {
    Path kvm = Path.of("/dev/kvm");
    Assumptions.assumeTrue(Files.isReadable(kvm) && Files.isWritable(kvm), "no usable /dev/kvm on this machine");
    KubernetesClient client = RealApiServer.client();
    Kubectl kubectl = new Kubectl(work);
    try (KvmNodes emulating = KvmNodes.start(work.resolve("tcg-nodes"), TCG_A, TCG_B);
        KvmNodes accelerated = KvmNodes.start(work.resolve("kvm-nodes"), Map.of("POLYVISOR_NODE_KVM", "offer"), KVM);
        LibvirtDriver libvirt = new LibvirtDriver()) {
      for (Host host : emulating.hosts()) {
        NodeRegistration.register(host, "1Gi", CLASS);
      }
      NodeRegistration.register(accelerated.host(KVM), "8Gi", CLASS);
      client.resource(TestManifests.hypervisorClass(CLASS, "libvirt", "qemu+tcp://{node.address}/system")).serverSideApply();
      client.resource(TestManifests.localStorageClass(STORAGE)).serverSideApply();
      Path image = CounterGuest.build(work);
      String namespace = RealApiServer.newNamespace("cpumodel");
      try (OperatorProcess operator = OperatorProcess.start(work.resolve("operator"),
          Map.of("POLYVISOR_CONSOLE_LOG_DIR", work.toString()))) {
        // Each node's labels are the models its hypervisor reports usable, and its host-model.
        Set<String> offeredByEmulation = offered(Virsh.run(emulating.host(TCG_A), "domcapabilities", "--virttype", "qemu"));
        Set<String> offeredByKvm = offered(Virsh.run(accelerated.host(KVM), "domcapabilities", "--virttype", "kvm"));
        await().atMost(Duration.ofSeconds(60)).until(() -> cpuModels(client, TCG_A).equals(offeredByEmulation)
            && cpuModels(client, TCG_B).equals(offeredByEmulation) && cpuModels(client, KVM).equals(offeredByKvm));
        // A model a guest can be defined with by name there (not only host-model's), that KVM here lacks.
        Set<String> onlyEmulated = new TreeSet<>(usable(Virsh.run(emulating.host(TCG_A), "domcapabilities", "--virttype", "qemu")));
        onlyEmulated.removeAll(offeredByKvm);
        Assumptions.assumeFalse(onlyEmulated.isEmpty(), "this machine's KVM offers every CPU model that emulation does: " + offeredByKvm);
        String cpuModel = onlyEmulated.iterator().next();
        client.resources(HypervisorClass.class).withName(CLASS).edit(c -> {
          c.getSpec().cpuModel = cpuModel;
          return c;
        });

        // Placed where the model is offered, though the KVM node has the most room.
        VirtualMachine vm = client.resource(client.getKubernetesSerialization()
            .unmarshal(TestManifests.counterVm("cpu", CLASS, "Always", "64Mi", STORAGE, image), VirtualMachine.class))
            .inNamespace(namespace).create();
        String uid = vm.getMetadata().getUid();
        await().atMost(Duration.ofSeconds(90)).until(() -> running(get(client, namespace)));
        String source = get(client, namespace).getStatus().nodeName;
        assertThat(source).isIn(TCG_A, TCG_B);
        String other = source.equals(TCG_A) ? TCG_B : TCG_A;
        Host sourceHost = emulating.host(source);
        assertThat(Virsh.run(sourceHost, "dumpxml", uid)).contains(">" + cpuModel + "</model>");
        assertThat(libvirt.find(accelerated.host(KVM), uid)).isEmpty();
        await().atMost(Duration.ofSeconds(30)).until(() -> cpuModel.equals(get(client, namespace).getStatus().cpuModel));
        Path console = work.resolve(namespace + "_cpu.log");
        await().atMost(Duration.ofSeconds(60)).until(() -> CounterGuest.readCount(console).size() >= 10);

        // The plan goes to the other emulating node, not to the KVM node with the most room.
        JsonNode plan = plan(kubectl, source);
        assertThat(plan.get("vms").get(0).get("target").asText()).as(plan.toString()).isEqualTo(other);
        // With that node cordoned, the VM has nowhere to go, and the plan says why.
        NodeRegistration.cordon(client, other, true);
        JsonNode stuck = plan(kubectl, source);
        assertThat(stuck.get("endsEmpty").asBoolean()).as(stuck.toString()).isFalse();
        assertThat(stuck.get("vms").get(0).get("action").asText()).isEqualTo("Stays");
        assertThat(stuck.get("vms").get(0).get("why").asText()).contains("offers CPU model " + cpuModel)
            .contains(KVM + " lack the label " + CpuModels.LABEL_PREFIX + cpuModel);
        assertThat(client.nodes().withName(TCG_A).get().getMetadata().getLabels()).containsEntry(CpuModels.LABEL_PREFIX + cpuModel, "true");

        // The evacuation does what the plan said: blocked, the guest untouched, no move to the KVM node.
        NodeRegistration.cordon(client, source, true);
        await().atMost(Duration.ofSeconds(60)).until(() -> evacuation(client, source)
            .filter(c -> "Blocked".equals(c.getReason()) && c.getMessage().contains("CPU model " + cpuModel)).isPresent());
        assertThat(client.resources(VirtualMachineMigration.class).inNamespace(namespace).list().getItems()).isEmpty();
        assertThat(libvirt.find(sourceHost, uid)).map(GuestInfo::state).contains(GuestState.RUNNING);
        assertThat(libvirt.find(accelerated.host(KVM), uid)).isEmpty();

        // Once the other emulating node takes VMs again, the guest moves there, counting on.
        NodeRegistration.cordon(client, other, false);
        await().atMost(Duration.ofSeconds(120)).until(() -> evacuation(client, source)
            .filter(c -> "Completed".equals(c.getReason())).isPresent());
        assertThat(libvirt.find(emulating.host(other), uid)).map(GuestInfo::state).contains(GuestState.RUNNING);
        assertThat(libvirt.find(sourceHost, uid)).isEmpty();
        assertThat(libvirt.find(accelerated.host(KVM), uid)).isEmpty();
        assertThat(Virsh.run(emulating.host(other), "dumpxml", uid)).contains(">" + cpuModel + "</model>");
        int before = CounterGuest.readCount(console).size();
        await().atMost(Duration.ofSeconds(30)).until(() -> CounterGuest.readCount(console).size() >= before + 10);
        CounterGuest.assertContinuous(CounterGuest.readCount(console));

        NodeRegistration.cordon(client, source, false);
        client.resources(VirtualMachine.class).inNamespace(namespace).withName("cpu").delete();
        await().atMost(Duration.ofSeconds(60)).until(() -> get(client, namespace) == null);
      }
    }
  }

  /** The models a domcapabilities document marks usable, and the one its host-model stands for. */
  private static Set<String> offered(String domainCapabilities) {
    Set<String> models = usable(domainCapabilities);
    Matcher host = Pattern.compile("<mode name='host-model' supported='yes'>\\s*<model[^>]*>([^<]+)</model>").matcher(domainCapabilities);
    if (host.find()) {
      models.add(host.group(1));
    }
    return models;
  }

  private static Set<String> usable(String domainCapabilities) {
    Set<String> models = new TreeSet<>();
    Matcher usable = Pattern.compile("<model usable='yes'[^>]*>([^<]+)</model>").matcher(domainCapabilities);
    while (usable.find()) {
      models.add(usable.group(1));
    }
    return models;
  }

  private static Set<String> cpuModels(KubernetesClient client, String node) {
    Map<String, String> labels = client.nodes().withName(node).get().getMetadata().getLabels();
    return labels.keySet().stream().filter(CpuModels::isLabel).map(k -> k.substring(CpuModels.LABEL_PREFIX.length()))
        .collect(Collectors.toCollection(TreeSet::new));
  }

  private static JsonNode plan(Kubectl kubectl, String node) throws Exception {
    Kubectl.Run run = kubectl.run("polyvisor", "plan", node, "-o", "json");
    assertThat(run.exit()).as(run.err()).isZero();
    return new ObjectMapper().readTree(run.out());
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
