package io.polyvisor.api.v1alpha1;

/** Where a VM is in its life, as one word for `kubectl get`. Conditions carry the detail. */
public enum VirtualMachinePhase {
  Pending,
  Scheduled,
  Provisioning,
  Starting,
  Running,
  /** The guest exists on its node but does not run: paused, or saved to disk. */
  Paused,
  Migrating,
  Stopping,
  Stopped,
  Failed
}
