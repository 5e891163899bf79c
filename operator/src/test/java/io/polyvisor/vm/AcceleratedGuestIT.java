package io.polyvisor.vm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
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
import io.polyvisor.testing.Virsh;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Guests under hardware virtualisation: two real libvirtd nodes that offer this machine's
 * {@code /dev/kvm}, a class whose CPU is host-model less a feature nested KVM refuses here, and a
 * counter guest that runs in a QEMU with KVM acceleration, then live-migrates to the other node
 * and counts on. Where the machine has no usable {@code /dev/kvm} there is nothing to accelerate
 * with and the test is skipped, saying so.
 */
class AcceleratedGuestIT {

  private static final String CLASS = "it-accel";
  private static final String STORAGE = "it-accel-local";
  private static final List<String> NODES = List.of("accel-a", "accel-b");

  @TempDir Path work;

  @Test
  void aGuestRunsUnderKvmWithTheClassesCpuAndLiveMigratesToAnotherKvmNode() throws Exception {
    Path kvm = Path.of("/dev/kvm");
    Assumptions.assumeTrue(Files.isReadable(kvm) && Files.isWritable(kvm), "no usable /dev/kvm on this machine");
    KubernetesClient client = RealApiServer.client();
    try (KvmNodes nodes = KvmNodes.start(work.resolve("nodes"), Map.of("POLYVISOR_NODE_KVM", "offer"), NODES.toArray(String[]::new));
        LibvirtDriver libvirt = new LibvirtDriver()) {
      for (Host host : nodes.hosts()) {
        NodeRegistration.register(host, "1Gi", CLASS);
      }
      // arch-capabilities: host-model announces it, and nested KVM on these machines refuses the
      // MSR behind it (QEMU stops with "failed to set MSR 0x10a"). The knob is for such hosts.
      client.resource(TestManifests.hypervisorClass(CLASS, "libvirt", "qemu+tcp://{node.address}/system")
          .replace("  connection:", "  cpuModel: host-model\n  cpuFeatures: [{name: arch-capabilities, policy: disable}]\n  connection:"))
          .serverSideApply();
      client.resource(TestManifests.localStorageClass(STORAGE)).serverSideApply();
      Path image = CounterGuest.build(work);
      String namespace = RealApiServer.newNamespace("kvm");
      try (OperatorProcess operator = OperatorProcess.start(work.resolve("operator"),
          Map.of("POLYVISOR_CONSOLE_LOG_DIR", work.toString()))) {
        VirtualMachine vm = client.resource(client.getKubernetesSerialization()
            .unmarshal(TestManifests.counterVm("fast", CLASS, "Always", "64Mi", STORAGE, image), VirtualMachine.class))
            .inNamespace(namespace).create();
        String uid = vm.getMetadata().getUid();
        try {
          await().atMost(Duration.ofSeconds(90)).until(() -> phase(client, namespace) == VirtualMachinePhase.Running);
        } catch (org.awaitility.core.ConditionTimeoutException e) {
          throw new AssertionError("VM fast is not Running; its status:\n" + new StatusOf(client, namespace), e);
        }
        String source = get(client, namespace).getStatus().nodeName;
        Host sourceHost = nodes.host(source);

        GuestInfo guest = libvirt.find(sourceHost, uid).orElseThrow();
        assertThat(guest.state()).isEqualTo(GuestState.RUNNING);
        assertThat(guest.emulated()).as("defined with type kvm").isFalse();
        String xml = Virsh.run(sourceHost, "dumpxml", "--inactive", uid);
        assertThat(xml).contains("<domain type='kvm'").contains("<cpu mode='host-model'")
            .contains("<feature policy='disable' name='arch-capabilities'/>");
        assertThat(qemuCommandLine(guest.id().guestName())).as("the QEMU process").containsAnyOf("-accel kvm", "accel=kvm");
        assertThat(condition(client, namespace, "Accelerated")).isEqualTo("True");
        Path console = work.resolve(namespace + "_fast.log");
        await().atMost(Duration.ofSeconds(30)).until(() -> CounterGuest.readCount(console).size() >= 10);

        String target = NODES.stream().filter(n -> !n.equals(source)).findFirst().orElseThrow();
        VirtualMachineMigration migration = client.resource(client.getKubernetesSerialization().unmarshal("""
            apiVersion: polyvisor.io/v1alpha1
            kind: VirtualMachineMigration
            metadata: {name: fast-to-%s}
            spec: {vmName: fast, targetNode: %s}
            """.formatted(target, target), VirtualMachineMigration.class)).inNamespace(namespace).create();
        VirtualMachineMigration ended = await().atMost(Duration.ofSeconds(120)).until(() -> client.resource(migration).get(),
            m -> m.getStatus() != null && m.getStatus().phase != null && m.getStatus().phase.isFinal());
        assertThat(ended.getStatus().phase).as(ended.getStatus().message).isEqualTo(MigrationPhase.Succeeded);
        assertThat(libvirt.find(nodes.host(target), uid)).map(GuestInfo::state).contains(GuestState.RUNNING);
        assertThat(libvirt.find(sourceHost, uid)).isEmpty();
        for (String definition : List.of("dumpxml", "--inactive")) {
          String moved = definition.equals("dumpxml") ? Virsh.run(nodes.host(target), "dumpxml", uid)
              : Virsh.run(nodes.host(target), "dumpxml", "--inactive", uid);
          assertThat(moved).as("the target's %s", definition).contains("<domain type='kvm'")
              .contains("<feature policy='disable' name='arch-capabilities'/>");
        }
        int before = CounterGuest.readCount(console).size();
        await().atMost(Duration.ofSeconds(30)).until(() -> CounterGuest.readCount(console).size() >= before + 10);
        CounterGuest.assertContinuous(CounterGuest.readCount(console));

        client.resources(VirtualMachine.class).inNamespace(namespace).withName("fast").delete();
        await().atMost(Duration.ofSeconds(60)).until(() -> get(client, namespace) == null);
      }
    }
  }

  /** The command line of the QEMU process that runs the guest of that libvirt name. */
  private static String qemuCommandLine(String guestName) throws IOException {
    try (Stream<Path> processes = Files.list(Path.of("/proc"))) {
      for (Path process : processes.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
        String commandLine;
        try {
          commandLine = Files.readString(process.resolve("cmdline")).replace('\0', ' ');
        } catch (IOException gone) {
          continue;
        }
        if (commandLine.contains("qemu-system") && commandLine.contains("guest=" + guestName + ",")) {
          return commandLine;
        }
      }
    }
    return "";
  }

  /** The VM's status as YAML when printed, for the message of a wait that timed out. */
  private record StatusOf(KubernetesClient client, String namespace) {
    @Override
    public String toString() {
      VirtualMachine vm = get(client, namespace);
      return vm == null ? "gone" : client.getKubernetesSerialization().asYaml(vm.getStatus());
    }
  }

  private static VirtualMachine get(KubernetesClient client, String namespace) {
    return client.resources(VirtualMachine.class).inNamespace(namespace).withName("fast").get();
  }

  private static VirtualMachinePhase phase(KubernetesClient client, String namespace) {
    VirtualMachine vm = get(client, namespace);
    return vm == null || vm.getStatus() == null ? null : vm.getStatus().phase;
  }

  private static String condition(KubernetesClient client, String namespace, String type) {
    return get(client, namespace).getStatus().conditions.stream().filter(c -> type.equals(c.getType()))
        .map(io.fabric8.kubernetes.api.model.Condition::getStatus).findFirst().orElse("");
  }
}
