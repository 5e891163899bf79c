package io.polyvisor.driver;

/** Power state of a guest, the same words for every hypervisor. */
public enum GuestState {
  RUNNING,
  PAUSED,
  SHUTTING_DOWN,
  SHUT_OFF,
  /** Stopped because the guest crashed (or its emulator died), not because it was shut down. */
  CRASHED,
  UNKNOWN;

  public boolean isActive() {
    return this == RUNNING || this == PAUSED || this == SHUTTING_DOWN;
  }
}
