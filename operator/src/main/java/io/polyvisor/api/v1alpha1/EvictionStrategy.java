package io.polyvisor.api.v1alpha1;

/** What happens to a running VM when its node is cordoned for maintenance. */
public enum EvictionStrategy {
  /** Live-migrate it; if that is impossible, it stays and blocks the evacuation. */
  LiveMigrate,
  /**
   * Live-migrate it; if that fails, shut it down and start it elsewhere (a migration with method
   * Restart). With no room on any other node it stays, as a shut-down VM would have nowhere to go.
   */
  LiveMigrateOrShutdown,
  /** Shut it down gracefully and start it on another node (a migration with method Restart). */
  Shutdown,
  /** Leave it where it is; the node reports it as blocking the evacuation. */
  None
}
