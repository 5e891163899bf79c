package io.polyvisor.api.v1alpha1;

/** Where a live migration is; the last three are final. */
public enum MigrationPhase {
  Pending,
  Scheduling,
  Running,
  Succeeded,
  Failed,
  Aborted;

  public boolean isFinal() {
    return this == Succeeded || this == Failed || this == Aborted;
  }
}
