package io.polyvisor.api.v1alpha1;

/** What happens to a running VM when its node is cordoned for maintenance. */
public enum EvictionStrategy {
  /** Live-migrate it; if that is impossible, it stays and blocks the evacuation. */
  LiveMigrate,
  /** Live-migrate it; if that fails or no target fits, shut it down and start it elsewhere. */
  LiveMigrateOrShutdown,
  /** Shut it down gracefully and start it on another node. */
  Shutdown,
  /** Leave it where it is; the node reports it as blocking the evacuation. */
  None
}
