package io.polyvisor.api.v1alpha1;

/** How a migration moves the guest. */
public enum MigrationMethod {
  /** The guest keeps running while its memory (and disks) move; it never notices. */
  Live,
  /**
   * The guest is shut down on the source (gracefully, forced after the operator's grace period),
   * its disks are copied, and it is started on the target: a reboot, for guests that cannot or
   * need not move live.
   */
  Restart
}
