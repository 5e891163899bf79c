package io.polyvisor.driver;

import java.net.URI;
import java.util.Optional;

/**
 * A volume to create in a pool. With a source, the volume starts as a copy of it: {@code file://}
 * names a file on the host, {@code http(s)://} is streamed by the operator.
 */
public record VolumeSpec(StoragePoolSpec pool, String name, long capacityBytes, Optional<URI> source) {}
