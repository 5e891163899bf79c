package io.polyvisor.driver;

import java.util.Optional;

/**
 * A guest as a host reports it: who it belongs to (from the metadata the operator wrote), its
 * state and memory, the {@link GuestSpec#revision()} of the configuration it runs (for a running
 * guest) or will boot with (for a stopped one), and whether it runs under software emulation
 * (a KVM domain of type {@code qemu}, on a host that offers no hardware virtualisation).
 *
 * @param cpuModel the named CPU model the guest is defined with (for a running libvirt guest,
 *     host-model as the host expanded it when the guest started); empty when it has the
 *     hypervisor's default CPU, the host's own (host-passthrough), or the driver does not say
 * @param memorySettings the guest's memory settings as the host applies them, where the
 *     hypervisor balances Dynamic Memory itself (Hyper-V); empty where the operator does it with
 *     a balloon (KVM), from the VM's spec
 */
public record GuestInfo(
    GuestId id, GuestState state, long currentMemoryBytes, long maximumMemoryBytes, String revision, boolean emulated,
    Optional<String> cpuModel, Optional<GuestSpec.GuestMemory> memorySettings) {

  /** A guest whose memory the operator balances, if it is Dynamic. */
  public GuestInfo(GuestId id, GuestState state, long currentMemoryBytes, long maximumMemoryBytes, String revision,
      boolean emulated, Optional<String> cpuModel) {
    this(id, state, currentMemoryBytes, maximumMemoryBytes, revision, emulated, cpuModel, Optional.empty());
  }

  /** A guest that runs with hardware virtualisation, as every Hyper-V guest does, and whose CPU model is not named. */
  public GuestInfo(GuestId id, GuestState state, long currentMemoryBytes, long maximumMemoryBytes, String revision) {
    this(id, state, currentMemoryBytes, maximumMemoryBytes, revision, false, Optional.empty());
  }
}
