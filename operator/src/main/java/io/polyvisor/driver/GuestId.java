package io.polyvisor.driver;

import java.util.Objects;

/** The VirtualMachine a guest belongs to. The uid is the guest's identity on every host. */
public record GuestId(String namespace, String name, String uid) {
  public GuestId {
    Objects.requireNonNull(namespace, "namespace");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(uid, "uid");
  }

  /**
   * A readable, unique name for the guest on a host. Kubernetes names cannot hold '_', so
   * namespace_name is unambiguous; the uid, not this name, is what the operator looks guests up by.
   */
  public String guestName() {
    return namespace + "_" + name;
  }

  @Override
  public String toString() {
    return namespace + "/" + name;
  }
}
