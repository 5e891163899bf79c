package io.polyvisor.testing.hyperv;

/** An error a cmdlet writes; with ErrorActionPreference Stop it ends the script. */
final class PsError extends RuntimeException {
  PsError(String message) {
    super(message);
  }
}
