package io.polyvisor.driver;

import java.util.Map;
import java.util.Optional;

/**
 * Where volumes live on a host, read from a StorageClass's parameters.
 *
 * @param name the pool's name on the host (libvirt pool) or its folder (Hyper-V)
 * @param type libvirt pool type: dir, netfs, logical, ...; ignored by Hyper-V
 * @param path the pool's target path on the host
 * @param shared whether every host of the class sees the same storage
 */
public record StoragePoolSpec(
    String name,
    String type,
    String path,
    Optional<String> sourceHost,
    Optional<String> sourcePath,
    String format,
    boolean shared) {

  /** Reads a StorageClass's parameters; throws with the parameter's name when one is missing. */
  public static StoragePoolSpec fromParameters(String storageClass, Map<String, String> parameters) {
    Map<String, String> p = parameters == null ? Map.of() : parameters;
    String path = p.get("path");
    if (path == null || path.isBlank()) {
      throw new IllegalArgumentException(
          "StorageClass " + storageClass + " has no parameters.path; set the folder or share that holds the disks");
    }
    return new StoragePoolSpec(
        p.getOrDefault("pool", storageClass),
        p.getOrDefault("poolType", "dir"),
        path,
        Optional.ofNullable(p.get("sourceHost")),
        Optional.ofNullable(p.get("sourcePath")),
        p.getOrDefault("format", "qcow2"),
        Boolean.parseBoolean(p.getOrDefault("shared", "false")));
  }
}
