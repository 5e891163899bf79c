package io.polyvisor.vm;

import io.polyvisor.planner.MemoryRequest;
import io.polyvisor.api.v1alpha1.MemorySpec;
import io.polyvisor.api.v1alpha1.NetworkSpec;
import io.polyvisor.api.v1alpha1.NumaPlacement;
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
    return build(vm, GuestSpec.HOST_MODEL, List.of(), disks, volumes, consoleLogDir);
  }

  /** @param cpuModel the class's {@code cpuModel}, {@code cpuFeatures} its {@code cpuFeatures} */
  public static GuestSpec build(VirtualMachine vm, String cpuModel, List<GuestSpec.CpuFeature> cpuFeatures, List<DiskPlan> disks,
      Map<String, Volume> volumes, Optional<Path> consoleLogDir) {
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
    String revision = revision(cores, guestMemory, numa, guestDisks, nics, cpuModel, cpuFeatures);
    return new GuestSpec(id, revision, cores, guestMemory, numa, guestDisks, nics, console, Optional.empty(), cpuModel, cpuFeatures);
  }

  private static GuestNic nic(NetworkSpec network) {
    return new GuestNic(network.name, network.network);
  }

  /**
   * A fingerprint of what a running guest cannot change: CPUs and their model, the memory it was
   * booted with (the size of a Static VM, the maximum of a Dynamic one), NUMA placement, disks and
   * NICs. Dynamic memory's startup size, minimum, buffer and priority are left out: they apply
   * live. The default CPU model and no features add nothing, so that guests defined before models
   * were chosen keep their revision.
   */
  static String revision(int cores, GuestMemory memory, NumaPlacement numa, List<GuestDisk> disks, List<GuestNic> nics,
      String cpuModel, List<GuestSpec.CpuFeature> cpuFeatures) {
    String canonical =
        "cores=" + cores + ";memory=" + (memory.dynamic() ? "dynamic:" : "static:") + memory.maximumBytes() + ";numa=" + numa
            + ";disks=" + disks + ";nics=" + nics + (GuestSpec.HOST_MODEL.equals(cpuModel) ? "" : ";cpu=" + cpuModel)
            // Sorted: the same features listed in another order are the same CPU.
            + (cpuFeatures.isEmpty() ? "" : ";features=" + cpuFeatures.stream().map(Object::toString).sorted().toList());
    try {
      byte[] hash = MessageDigest.getInstance("SHA-256").digest(canonical.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(hash, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is part of every JDK", e);
    }
  }
}
