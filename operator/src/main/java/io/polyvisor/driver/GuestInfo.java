package io.polyvisor.driver;

/**
 * A guest as a host reports it: who it belongs to (from the metadata the operator wrote), its
 * state and memory, and the {@link GuestSpec#revision()} of the configuration it runs (for a
 * running guest) or will boot with (for a stopped one).
 */
public record GuestInfo(
    GuestId id, GuestState state, long currentMemoryBytes, long maximumMemoryBytes, String revision) {}
