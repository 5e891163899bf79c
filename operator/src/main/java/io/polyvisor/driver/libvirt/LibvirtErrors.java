package io.polyvisor.driver.libvirt;

import io.polyvisor.driver.Host;
import io.polyvisor.driver.HostUnreachableException;
import io.polyvisor.driver.HypervisorException;
import java.util.Set;
import org.libvirt.Error.ErrorNumber;
import org.libvirt.LibvirtException;

/** Turns libvirt's errors into the driver's typed exceptions, naming the host and the object. */
final class LibvirtErrors {

  /** Errors that mean the connection, not the request, is broken: reconnect and retry once. */
  private static final Set<ErrorNumber> CONNECTION_ERRORS =
      Set.of(
          ErrorNumber.VIR_ERR_SYSTEM_ERROR,
          ErrorNumber.VIR_ERR_RPC,
          ErrorNumber.VIR_ERR_NO_CONNECT,
          ErrorNumber.VIR_ERR_INVALID_CONN);

  private LibvirtErrors() {}

  static ErrorNumber code(LibvirtException e) {
    return e.getError() == null ? ErrorNumber.VIR_ERR_UNKNOWN : e.getError().getCode();
  }

  static boolean isConnectionError(LibvirtException e) {
    if (CONNECTION_ERRORS.contains(code(e))) {
      return true;
    }
    // libvirt reports a call on a connection whose daemon went away as an internal error.
    String message = e.getMessage() == null ? "" : e.getMessage();
    return code(e) == ErrorNumber.VIR_ERR_INTERNAL_ERROR
        && (message.contains("client socket is closed") || message.contains("connection closed"));
  }

  /** A pool refresh refused while a volume is being built in it (libvirt's storagePoolRefresh). */
  static boolean isPoolBusy(LibvirtException e) {
    String message = e.getMessage() == null ? "" : e.getMessage();
    return code(e) == ErrorNumber.VIR_ERR_INTERNAL_ERROR && message.contains("has asynchronous jobs running");
  }

  /** @param connectionAlive whether the connection still answered after the failure */
  static HypervisorException translate(LibvirtException e, Host host, String what, boolean connectionAlive) {
    String message = what + " on " + host + " failed: " + e.getMessage() + " [" + code(e) + "]";
    return !connectionAlive && isConnectionError(e)
        ? new HostUnreachableException(code(e).name(), message, e)
        : new HypervisorException(code(e).name(), message, e);
  }

  /** The message of this thread's last libvirt error, for calls made through {@link LibvirtNative}. */
  static String lastMessage() {
    return LibvirtNative.INSTANCE.virGetLastErrorMessage();
  }

  /** The code of this thread's last libvirt error, for calls made through {@link LibvirtNative}. */
  static ErrorNumber lastCode() {
    int code = LibvirtNative.INSTANCE.virGetLastErrorCode();
    ErrorNumber[] all = ErrorNumber.values();
    return code >= 0 && code < all.length ? all[code] : ErrorNumber.VIR_ERR_UNKNOWN;
  }

  /** For failures outside a connection's calls (a migration's own thread), judged by the code alone. */
  static HypervisorException translate(LibvirtException e, Host host, String what) {
    return translate(e, host, what, !isConnectionError(e));
  }
}
