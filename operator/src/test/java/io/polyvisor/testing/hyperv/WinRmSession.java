package io.polyvisor.testing.hyperv;

import java.util.function.Supplier;

/**
 * What the WinRM session running the current script holds, for the cmdlets that care: whether it
 * holds credentials it can pass on to another host (a Kerberos logon whose client delegated its
 * TGT). {@link WinRmSimulator} sets it around each script it runs, on the thread that runs it;
 * Move-VM on a host with {@link SimulatedHyperVHost#kerberosMigration()} reads it. A thread-local
 * because the cmdlets are called through {@link PowerShellSubset}, which knows nothing of sessions,
 * and a script runs on one thread from start to end. Outside a script (a test calling the host
 * directly) it is false, as for a Basic session: a local account never holds delegable credentials.
 */
final class WinRmSession {

  private static final ThreadLocal<Boolean> DELEGABLE = ThreadLocal.withInitial(() -> false);

  private WinRmSession() {}

  static boolean holdsDelegableCredentials() {
    return DELEGABLE.get();
  }

  static <T> T run(boolean delegable, Supplier<T> script) {
    boolean before = DELEGABLE.get();
    DELEGABLE.set(delegable);
    try {
      return script.get();
    } finally {
      DELEGABLE.set(before);
    }
  }
}
