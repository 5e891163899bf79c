package io.polyvisor.driver;

/** The host has no guest with that uid that the operator created. */
public class GuestNotFoundException extends HypervisorException {

  public GuestNotFoundException(Host host, String uid) {
    super("NO_DOMAIN", "no guest with uid " + uid + " on " + host);
  }
}
