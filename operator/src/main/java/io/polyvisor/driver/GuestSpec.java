package io.polyvisor.driver;

import io.polyvisor.api.v1alpha1.NumaPlacement;
import io.polyvisor.api.v1alpha1.SecureBoot;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Everything a driver needs to define a guest, already resolved by the reconciler: volumes are
 * provisioned and addressed by their path on the host.
 *
 * @param revision a fingerprint of everything that needs a restart to change; the driver keeps it
 *     with the guest so that the operator can tell a running guest's configuration from the wanted
 *     one ({@link GuestInfo#revision()})
 * @param consoleLog where the guest's first serial port is appended on the host, when wanted
 * @param kernelBoot a kernel to boot directly instead of booting from the disks, when wanted
 * @param cpuModel the CPU the guest sees: {@value #HOST_MODEL}, {@value #HOST_PASSTHROUGH} or a
 *     named model (see the HypervisorClass's {@code cpuModel})
 * @param cpuFeatures features added to or taken from that model, where the guest runs under KVM
 * @param secureBoot the firmware's Secure Boot, where the guest boots through UEFI (Hyper-V
 *     Generation 2)
 */
public record GuestSpec(
    GuestId id,
    String revision,
    int cores,
    GuestMemory memory,
    NumaPlacement numa,
    List<GuestDisk> disks,
    List<GuestNic> nics,
    Optional<Path> consoleLog,
    Optional<KernelBoot> kernelBoot,
    String cpuModel,
    List<CpuFeature> cpuFeatures,
    SecureBoot secureBoot) {

  public static final String HOST_MODEL = "host-model";
  /** What a guest's firmware trusts when nobody chose: the template that boots Linux distributions. */
  public static final SecureBoot DEFAULT_SECURE_BOOT = SecureBoot.MicrosoftUEFICertificateAuthority;
  public static final String HOST_PASSTHROUGH = "host-passthrough";

  public GuestSpec {
    disks = List.copyOf(disks);
    nics = List.copyOf(nics);
    cpuFeatures = List.copyOf(cpuFeatures);
  }

  /** One CPU feature and libvirt's policy for it (require, disable, forbid, optional, force). */
  public record CpuFeature(String name, String policy) {
    @Override
    public String toString() {
      return policy + ":" + name;
    }
  }

  /** With the default Secure Boot, {@link #DEFAULT_SECURE_BOOT}. */
  public GuestSpec(GuestId id, String revision, int cores, GuestMemory memory, NumaPlacement numa, List<GuestDisk> disks,
      List<GuestNic> nics, Optional<Path> consoleLog, Optional<KernelBoot> kernelBoot, String cpuModel,
      List<CpuFeature> cpuFeatures) {
    this(id, revision, cores, memory, numa, disks, nics, consoleLog, kernelBoot, cpuModel, cpuFeatures, DEFAULT_SECURE_BOOT);
  }

  /** With the CPU model's own features. */
  public GuestSpec(GuestId id, String revision, int cores, GuestMemory memory, NumaPlacement numa, List<GuestDisk> disks,
      List<GuestNic> nics, Optional<Path> consoleLog, Optional<KernelBoot> kernelBoot, String cpuModel) {
    this(id, revision, cores, memory, numa, disks, nics, consoleLog, kernelBoot, cpuModel, List.of());
  }

  /** With the default CPU model, {@value #HOST_MODEL}. */
  public GuestSpec(GuestId id, String revision, int cores, GuestMemory memory, NumaPlacement numa, List<GuestDisk> disks,
      List<GuestNic> nics, Optional<Path> consoleLog, Optional<KernelBoot> kernelBoot) {
    this(id, revision, cores, memory, numa, disks, nics, consoleLog, kernelBoot, HOST_MODEL);
  }

  /** A guest booted from disk with no revision to track, as tests of the driver define them. */
  public GuestSpec(
      GuestId id, int cores, GuestMemory memory, NumaPlacement numa, List<GuestDisk> disks, List<GuestNic> nics,
      Optional<Path> consoleLog) {
    this(id, "", cores, memory, numa, disks, nics, consoleLog, Optional.empty());
  }

  /** As above, booting a kernel directly. */
  public GuestSpec(
      GuestId id, int cores, GuestMemory memory, NumaPlacement numa, List<GuestDisk> disks, List<GuestNic> nics,
      Optional<Path> consoleLog, Optional<KernelBoot> kernelBoot) {
    this(id, "", cores, memory, numa, disks, nics, consoleLog, kernelBoot);
  }

  /** A kernel and initrd on the host, booted directly with a command line (appliances, tests). */
  public record KernelBoot(Path kernel, Path initrd, String cmdline) {}

  /**
   * Memory in bytes. Static: {@code current == maximum} and no balloon. Dynamic: the guest may
   * grow to {@code maximum}, starts at {@code current}, and is kept between {@code minimum} and
   * {@code maximum} (by the operator's balloon on KVM, by Hyper-V's Dynamic Memory, which also
   * takes the buffer and priority).
   */
  public record GuestMemory(
      long currentBytes, long maximumBytes, long minimumBytes, boolean dynamic, int bufferPercent, int priority) {

    /** Dynamic memory with Hyper-V's defaults for buffer (20 %) and priority (50). */
    public GuestMemory(long currentBytes, long maximumBytes, long minimumBytes, boolean dynamic) {
      this(currentBytes, maximumBytes, minimumBytes, dynamic, 20, 50);
    }

    public static GuestMemory fixed(long bytes) {
      return new GuestMemory(bytes, bytes, bytes, false);
    }
  }

  /** A disk: a provisioned volume's path on the host, its format and boot position. */
  public record GuestDisk(String name, String path, String format, Optional<Integer> bootOrder) {}

  /** A network interface plugged into a hypervisor network, bridge or virtual switch. */
  public record GuestNic(String name, String network) {}
}
