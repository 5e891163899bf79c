package io.polyvisor.driver;

/**
 * What a migration has left on a guest's copy on one host, beyond its power state: the part of the
 * hosts' truth that says whether a paused copy is half of a move, and which half. The migration
 * controller reads it on both hosts before it decides how a move ended (see
 * {@code io.polyvisor.migration.MoveResolution}).
 */
public enum MigrationMark {
  /** No migration of the guest runs here, and none left a trace. */
  NONE,
  /** A migration job of the guest runs on this host, sending it (or a job that does not say which way): it has not ended. */
  JOB,
  /**
   * A migration job receiving the guest runs on this host, its target: it has not ended, though
   * nothing may send to it any more (a target's job ends only when its source finishes or cancels
   * the move, and a source whose daemon restarted mid-move does neither).
   */
  INCOMING_JOB,
  /**
   * Paused by a migration that no longer runs: on the source, stopped for the switch-over and not
   * handed over (or not confirmed); on the target, received and never run. Such a copy holds
   * nothing that the other host's copy lacks, unless that other copy never ran either.
   */
  PAUSED_BY_MIGRATION,
  /**
   * Part of a post-copy migration that broke: the guest's memory is split between this host and
   * the other, so neither copy may be resumed, restarted or removed; only the hypervisor's own
   * post-copy recovery can join them.
   */
  POST_COPY_SPLIT
}
