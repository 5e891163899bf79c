package io.polyvisor.api.v1alpha1;

/** Who decides whether a VM's guest is powered on. */
public enum RunStrategy {
  /** Keep the guest running; start it again whenever it stops. */
  Always,
  /** Keep the guest stopped: shut it down gracefully, then force it off after a timeout. */
  Halted,
  /** Start it once; afterwards power is the user's business and the operator leaves it alone. */
  Manual,
  /** Restart the guest only when it crashed, not when it was shut down from inside. */
  RerunOnFailure
}
