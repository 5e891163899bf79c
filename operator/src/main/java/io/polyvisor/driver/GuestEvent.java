package io.polyvisor.driver;

/** A change of a guest's lifecycle on a host, as the hypervisor announced it. */
public record GuestEvent(Host host, String uid, Type type, String detail) {

  public enum Type {
    DEFINED,
    UNDEFINED,
    STARTED,
    SUSPENDED,
    RESUMED,
    STOPPED,
    SHUTDOWN,
    CRASHED,
    OTHER
  }
}
