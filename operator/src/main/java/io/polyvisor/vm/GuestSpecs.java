package io.polyvisor.vm;

import io.polyvisor.planner.MemoryRequest;
import io.polyvisor.api.v1alpha1.Driver;
import io.polyvisor.api.v1alpha1.HypervisorClassSpec;
import io.polyvisor.api.v1alpha1.MemorySpec;
import io.polyvisor.api.v1alpha1.NetworkSpec;
import io.polyvisor.api.v1alpha1.NumaPlacement;
import io.polyvisor.api.v1alpha1.SecureBoot;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.driver.GuestId;
import io.polyvisor.driver.GuestSpec;
import io.polyvisor.driver.GuestSpec.GuestDisk;
import io.polyvisor.driver.GuestSpec.GuestMemory;
import io.polyvisor.driver.GuestSpec.GuestNic;
import io.polyvisor.driver.Volume;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Turns a VirtualMachine and its provisioned volumes into the driver's {@link GuestSpec}. */
public final class GuestSpecs {

  private GuestSpecs() {}

  public static GuestId id(VirtualMachine vm) {
    return new GuestId(vm.getMetadata().getNamespace(), vm.getMetadata().getName(), vm.getMetadata().getUid());
  }

  /**
   * @param volumes the provisioned volume of each disk plan, by disk name
   * @param consoleLogDir where guests' serial consoles are appended on the hosts, if anywhere
   */
  public static GuestSpec build(
      VirtualMachine vm, List<DiskPlan> disks, Map<String, Volume> volumes, Optional<Path> consoleLogDir) {
    return build(vm, Hypervisor.KVM, disks, volumes, consoleLogDir);
  }

  /**
   * What of the class shapes the guest on its hypervisor.
   *
   * @param cpuModel the class's {@code cpuModel} (KVM)
   * @param cpuFeatures the class's {@code cpuFeatures} (KVM)
   * @param secureBoot the VM's or else the class's {@code secureBoot} (Hyper-V)
   * @param hostBalancesMemory whether the hypervisor changes a running guest's Dynamic Memory
   *     settings itself (Hyper-V), so that they are no part of the revision
   */
  public record Hypervisor(String cpuModel, List<GuestSpec.CpuFeature> cpuFeatures, SecureBoot secureBoot,
      boolean hostBalancesMemory) {
    public static final Hypervisor KVM = new Hypervisor(GuestSpec.HOST_MODEL, List.of(), GuestSpec.DEFAULT_SECURE_BOOT, false);

    /**
     * As the VM's class says, each setting where its driver uses it: Hyper-V gives its guests the
     * host's CPU, and KVM guests boot through SeaBIOS, which has no Secure Boot.
     */
    public static Hypervisor of(HypervisorClassSpec hvc, VirtualMachine vm) {
      if (hvc.driver == Driver.LIBVIRT) {
        return new Hypervisor(hvc.cpuModel == null ? GuestSpec.HOST_MODEL : hvc.cpuModel,
            hvc.cpuFeatures == null ? List.of() : hvc.cpuFeatures.stream()
                .map(f -> new GuestSpec.CpuFeature(f.name, f.policy == null ? "require" : f.policy)).toList(),
            GuestSpec.DEFAULT_SECURE_BOOT, false);
      }
      SecureBoot secureBoot = vm.getSpec().secureBoot != null ? vm.getSpec().secureBoot
          : hvc.secureBoot != null ? hvc.secureBoot : GuestSpec.DEFAULT_SECURE_BOOT;
      return new Hypervisor(GuestSpec.HOST_MODEL, List.of(), secureBoot, true);
    }
  }

  public static GuestSpec build(VirtualMachine vm, Hypervisor hypervisor, List<DiskPlan> disks,
      Map<String, Volume> volumes, Optional<Path> consoleLogDir) {
    String cpuModel = hypervisor.cpuModel();
    List<GuestSpec.CpuFeature> cpuFeatures = hypervisor.cpuFeatures();
    MemorySpec memory = vm.getSpec().memory;
    GuestMemory guestMemory =
        new GuestMemory(
            MemoryRequest.startup(memory), MemoryRequest.maximum(memory), MemoryRequest.minimum(memory), MemoryRequest.isDynamic(memory),
            memory.effectiveBufferPercent(), memory.effectivePriority());
    List<GuestDisk> guestDisks =
        disks.stream()
            .map(plan -> {
              Volume volume = volumes.get(plan.disk().name);
              return new GuestDisk(plan.disk().name, volume.path(), volume.format(), Optional.ofNullable(plan.disk().bootOrder));
            })
            .toList();
    List<GuestNic> nics =
        vm.getSpec().networks == null ? List.of() : vm.getSpec().networks.stream().map(GuestSpecs::nic).toList();
    int cores = vm.getSpec().cpu == null || vm.getSpec().cpu.cores == null ? 1 : vm.getSpec().cpu.cores;
    NumaPlacement numa = memory.numa == null ? NumaPlacement.None : memory.numa;
    GuestId id = id(vm);
    Optional<Path> console = consoleLogDir.map(dir -> dir.resolve(id.guestName() + ".log"));
    String revision = revision(cores, guestMemory, hypervisor.hostBalancesMemory(), numa, guestDisks, nics, cpuModel, cpuFeatures,
        hypervisor.secureBoot());
    return new GuestSpec(id, revision, cores, guestMemory, numa, guestDisks, nics, console, Optional.empty(), cpuModel, cpuFeatures,
        hypervisor.secureBoot());
  }

  private static GuestNic nic(NetworkSpec network) {
    return new GuestNic(network.name, network.network);
  }

  /**
   * A fingerprint of what a running guest cannot change: CPUs and their model, the memory it was
   * booted with (the size of a Static VM, the maximum of a Dynamic one), NUMA placement, disks,
   * NICs and Secure Boot. Dynamic memory's startup size, minimum, buffer and priority are left
   * out: the operator's balloon applies them live on KVM. Where the host balances memory itself
   * (Hyper-V) the maximum is left out too: the driver says what of a Dynamic change a running guest
   * takes and what waits ({@link io.polyvisor.driver.HypervisorDriver#memoryChange}). The default
   * CPU model, no features and the default Secure Boot add nothing, so that guests defined before
   * these were chosen keep their revision.
   */
  static String revision(int cores, GuestMemory memory, boolean hostBalancesMemory, NumaPlacement numa, List<GuestDisk> disks,
      List<GuestNic> nics, String cpuModel, List<GuestSpec.CpuFeature> cpuFeatures, SecureBoot secureBoot) {
    String bootMemory = memory.dynamic() ? (hostBalancesMemory ? "dynamic" : "dynamic:" + memory.maximumBytes())
        : "static:" + memory.maximumBytes();
    String canonical =
        "cores=" + cores + ";memory=" + bootMemory + ";numa=" + numa
            + ";disks=" + disks + ";nics=" + nics + (GuestSpec.HOST_MODEL.equals(cpuModel) ? "" : ";cpu=" + cpuModel)
            // Sorted: the same features listed in another order are the same CPU.
            + (cpuFeatures.isEmpty() ? "" : ";features=" + cpuFeatures.stream().map(Object::toString).sorted().toList())
            + (secureBoot == GuestSpec.DEFAULT_SECURE_BOOT ? "" : ";secureBoot=" + secureBoot);
    try {
      byte[] hash = MessageDigest.getInstance("SHA-256").digest(canonical.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(hash, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is part of every JDK", e);
    }
  }
}
