package io.polyvisor.driver;

/** Power state of a guest, the same words for every hypervisor. */
public enum GuestState {
  RUNNING,
  PAUSED,
  SHUTTING_DOWN,
  SHUT_OFF,
  /**
   * Off, with its memory saved to disk (Hyper-V's Saved state, which a host shutting down gives
   * its guests; libvirt's managed save): nothing runs, and starting it resumes where it was.
   */
  SAVED,
  /** Stopped because the guest crashed (or its emulator died), not because it was shut down. */
  CRASHED,
  UNKNOWN;

  /** Whether a process of the guest exists on the host (running, paused or shutting down). */
  public boolean isActive() {
    return this == RUNNING || this == PAUSED || this == SHUTTING_DOWN;
  }
}
