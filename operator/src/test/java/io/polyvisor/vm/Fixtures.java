package io.polyvisor.vm;

import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.polyvisor.api.v1alpha1.Connection;
import io.polyvisor.api.v1alpha1.CpuSpec;
import io.polyvisor.api.v1alpha1.Driver;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.MemoryPolicy;
import io.polyvisor.api.v1alpha1.MemorySpec;
import io.polyvisor.api.v1alpha1.RunStrategy;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.cluster.HypervisorNode;
import java.util.Map;
import java.util.UUID;

/** Objects for unit tests, built as the API server would store them (defaults filled in). */
public final class Fixtures {

  private Fixtures() {}

  public static HypervisorClass kvmClass(int overcommitPercent) {
    HypervisorClass c = new HypervisorClass();
    c.setMetadata(new ObjectMetaBuilder().withName("kvm").build());
    c.getSpec().driver = Driver.LIBVIRT;
    c.getSpec().nodeSelector = Map.of("polyvisor.io/hypervisor", "kvm");
    c.getSpec().connection = new Connection();
    c.getSpec().connection.endpoint = "qemu+tcp://{node.address}/system";
    c.getSpec().memoryOvercommitPercent = overcommitPercent;
    return c;
  }

  public static VirtualMachine vm(String name, String size) {
    VirtualMachine vm = new VirtualMachine();
    vm.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace("ns").withUid(UUID.randomUUID().toString())
        .withGeneration(1L).build());
    vm.getSpec().hypervisorClassName = "kvm";
    vm.getSpec().runStrategy = RunStrategy.Always;
    vm.getSpec().cpu = new CpuSpec();
    vm.getSpec().cpu.cores = 1;
    vm.getSpec().memory = new MemorySpec();
    vm.getSpec().memory.policy = MemoryPolicy.Static;
    vm.getSpec().memory.size = size;
    return vm;
  }

  public static VirtualMachine dynamicVm(String name, String minimum, String size, String maximum) {
    VirtualMachine vm = vm(name, size);
    vm.getSpec().memory.policy = MemoryPolicy.Dynamic;
    vm.getSpec().memory.minimum = minimum;
    vm.getSpec().memory.maximum = maximum;
    return vm;
  }

  /** A node of class kvm with 4 CPUs. */
  public static HypervisorNode node(String name, String memory, boolean ready, boolean cordoned) {
    return node(name, memory, "4", ready, cordoned);
  }

  public static HypervisorNode node(String name, String memory, String cpus, boolean ready, boolean cordoned) {
    return HypervisorNode.of(
        new NodeBuilder()
            .withNewMetadata().withName(name).withLabels(Map.of("polyvisor.io/hypervisor", "kvm")).endMetadata()
            .withNewSpec().withUnschedulable(cordoned).endSpec()
            .withNewStatus()
            .withAllocatable(Map.of("memory", new Quantity(memory), "cpu", new Quantity(cpus)))
            .addNewCondition().withType("Ready").withStatus(ready ? "True" : "False").endCondition()
            .addNewAddress().withType("InternalIP").withAddress("10.0.0." + name.length()).endAddress()
            .endStatus()
            .build(),
        kvmClass(100));
  }
}
