package io.polyvisor.driver.hyperv;

/**
 * What the return values of Hyper-V's CIM methods (RequestStateChange, InitiateShutdown, ...) mean,
 * as Microsoft documents them for the virtualization v2 namespace (docs/hyperv-on-real-hosts.md,
 * section 4): 0 done, 4096 accepted with a job still running it, 32768 and up refused.
 */
final class CimReturnCodes {

  static final long COMPLETED = 0;
  static final long JOB_STARTED = 4096;

  private CimReturnCodes() {}

  /** Whether the host took the request: done already, or a job of its own carries it out. */
  static boolean accepted(long code) {
    return code == COMPLETED || code == JOB_STARTED;
  }

  static String describe(long code) {
    return switch ((int) code) {
      case 0 -> "completed";
      case 4096 -> "job started";
      case 32768 -> "failed";
      case 32769 -> "access denied";
      case 32770 -> "not supported";
      case 32771 -> "status unknown";
      case 32772 -> "timeout";
      case 32773 -> "invalid parameter";
      case 32774 -> "system in use";
      case 32775 -> "invalid state for this operation";
      case 32776 -> "incorrect data type";
      case 32777 -> "system not available";
      case 32778 -> "out of memory";
      default -> "undocumented code";
    };
  }
}
