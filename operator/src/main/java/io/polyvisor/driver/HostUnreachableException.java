package io.polyvisor.driver;

/** The host's management endpoint could not be reached, or the connection to it broke. */
public class HostUnreachableException extends HypervisorException {

  public HostUnreachableException(String code, String message, Throwable cause) {
    super(code, message, cause);
  }
}
