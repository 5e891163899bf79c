package io.polyvisor.driver;

import java.util.Objects;

/**
 * A hypervisor host as the driver reaches it: the Kubernetes Node's name (for messages) and the
 * management endpoint resolved from the class's template or the node's annotation.
 */
public record Host(String nodeName, String endpoint) {
  public Host {
    Objects.requireNonNull(nodeName, "nodeName");
    Objects.requireNonNull(endpoint, "endpoint");
  }

  @Override
  public String toString() {
    return nodeName + " (" + endpoint + ")";
  }
}
