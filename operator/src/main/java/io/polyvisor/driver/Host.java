package io.polyvisor.driver;

import java.util.Objects;
import java.util.Optional;

/**
 * A hypervisor host as the driver reaches it: the Kubernetes Node's name (for messages), the
 * management endpoint resolved from the class's template or the node's annotation, and the Secret
 * holding the credentials for it, when the class names one.
 */
public record Host(String nodeName, String endpoint, Optional<SecretName> credentials) {
  public Host {
    Objects.requireNonNull(nodeName, "nodeName");
    Objects.requireNonNull(endpoint, "endpoint");
    Objects.requireNonNull(credentials, "credentials");
  }

  /** A host reached without credentials of its own (libvirt over TCP, or the daemon's default PKI). */
  public Host(String nodeName, String endpoint) {
    this(nodeName, endpoint, Optional.empty());
  }

  /** Where a Secret is. */
  public record SecretName(String namespace, String name) {
    @Override
    public String toString() {
      return namespace + "/" + name;
    }
  }

  @Override
  public String toString() {
    return nodeName + " (" + endpoint + ")";
  }
}
