package io.polyvisor.driver;

/**
 * A guest as a host reports it: who it belongs to (from the metadata the operator wrote), its
 * state and memory.
 */
public record GuestInfo(
    GuestId id, GuestState state, long currentMemoryBytes, long maximumMemoryBytes) {}
