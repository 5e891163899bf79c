package io.polyvisor.driver;

/**
 * A hypervisor refused or failed an operation. The message names the host and the guest or
 * volume; {@link #code()} is the hypervisor's own error code (libvirt's virErrorNumber name, or
 * the Hyper-V error id) for callers that must tell failures apart.
 */
public class HypervisorException extends RuntimeException {

  private final String code;

  public HypervisorException(String code, String message, Throwable cause) {
    super(message, cause);
    this.code = code;
  }

  public HypervisorException(String code, String message) {
    this(code, message, null);
  }

  public String code() {
    return code;
  }
}
