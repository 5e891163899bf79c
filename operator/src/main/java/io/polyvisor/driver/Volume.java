package io.polyvisor.driver;

/** A volume that exists on a host. */
public record Volume(String pool, String name, String path, String format, long capacityBytes) {}
