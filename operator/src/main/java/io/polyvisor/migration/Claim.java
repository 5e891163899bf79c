package io.polyvisor.migration;

/** What came of trying to claim a VM for one migration. */
sealed interface Claim {
  /** This migration holds the VM. */
  record Held() implements Claim {}

  /** Another active migration holds it. */
  record HeldBy(String migration) implements Claim {}

  /** The VM changed between reading and writing the claim: read it again. */
  record Contended() implements Claim {}
}
