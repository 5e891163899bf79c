package io.polyvisor.testing;

import io.fabric8.kubernetes.api.model.storage.StorageClass;
import io.fabric8.kubernetes.api.model.storage.StorageClassBuilder;
import java.nio.file.Path;
import java.util.Map;

/** The objects the end-to-end tests apply, written as a person would write them. */
public final class TestManifests {

  private TestManifests() {}

  /** A class whose nodes carry {@code polyvisor.io/hypervisor: <name>}; defaults for the rest. */
  public static String hypervisorClass(String name, String driver, String endpoint) {
    return hypervisorClassWith(name, driver, "{endpoint: \"%s\"}".formatted(endpoint));
  }

  /**
   * A libvirt class reached over TLS ({@code qemu+tls://{node.address}/system}) with the client
   * certificate from Secret {@code secretNamespace/secretName}.
   */
  public static String tlsHypervisorClass(String name, String secretNamespace, String secretName) {
    return hypervisorClassWith(name, "libvirt", "{endpoint: \"qemu+tls://{node.address}/system\", credentialsSecretRef: {namespace: %s, name: %s}}"
        .formatted(secretNamespace, secretName));
  }

  private static String hypervisorClassWith(String name, String driver, String connection) {
    return """
        apiVersion: polyvisor.io/v1alpha1
        kind: HypervisorClass
        metadata:
          name: %s
        spec:
          driver: %s
          nodeSelector: {polyvisor.io/hypervisor: %s}
          connection: %s
        """.formatted(name, driver, name, connection);
  }

  /** Disks as files in a directory pool on each KVM node, not shared between nodes. */
  public static StorageClass localStorageClass(String name) {
    return new StorageClassBuilder().withNewMetadata().withName(name).endMetadata()
        .withProvisioner("libvirt.polyvisor.io")
        .withParameters(Map.of("pool", "polyvisor-local", "poolType", "dir", "path", "/var/lib/libvirt/images/polyvisor"))
        .build();
  }

  /** A VM that boots the counter guest from {@code image} (see {@link CounterGuest}). */
  public static String counterVm(String name, String hypervisorClass, String runStrategy, String memory, String storageClass,
      Path image) {
    return """
        apiVersion: polyvisor.io/v1alpha1
        kind: VirtualMachine
        metadata:
          name: %s
        spec:
          hypervisorClassName: %s
          runStrategy: %s
          memory: {size: %s}
          disks:
          - name: root
            storageClassName: %s
            size: 4Mi
            bootOrder: 1
            source: {url: "file://%s"}
        """.formatted(name, hypervisorClass, runStrategy, memory, storageClass, image);
  }
}
