package io.polyvisor.driver;

/** What a host has, as its hypervisor reports it. */
public record HostCapacity(long totalMemoryBytes, long freeMemoryBytes, int cpus) {}
