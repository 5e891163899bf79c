package io.polyvisor.api.v1alpha1;

/** Why a migration was asked for. */
public enum MigrationReason {
  /** A person asked for it. */
  Manual,
  /** The operator is emptying a cordoned node. */
  Evacuation,
  /** Relieving an overloaded host. */
  Rebalance
}
