package io.polyvisor.driver;

/**
 * A guest as a host reports it: who it belongs to (from the metadata the operator wrote), its
 * state and memory, the {@link GuestSpec#revision()} of the configuration it runs (for a running
 * guest) or will boot with (for a stopped one), and whether it runs under software emulation
 * (a KVM domain of type {@code qemu}, on a host that offers no hardware virtualisation).
 */
public record GuestInfo(
    GuestId id, GuestState state, long currentMemoryBytes, long maximumMemoryBytes, String revision, boolean emulated) {

  /** A guest that runs with hardware virtualisation, as every Hyper-V guest does. */
  public GuestInfo(GuestId id, GuestState state, long currentMemoryBytes, long maximumMemoryBytes, String revision) {
    this(id, state, currentMemoryBytes, maximumMemoryBytes, revision, false);
  }
}
