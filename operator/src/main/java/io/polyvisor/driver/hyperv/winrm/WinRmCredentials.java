package io.polyvisor.driver.hyperv.winrm;

import java.util.Optional;

/**
 * How to log on to a host's WinRM listener: Basic authentication over HTTPS (the header goes with
 * every request; the TLS channel protects it), trusting the host's certificate through the given
 * CA when there is one, else through the JDK's trust store.
 */
public record WinRmCredentials(String username, String password, Optional<String> caCertificatePem) {

  @Override
  public String toString() {
    return "WinRmCredentials[" + username + "]"; // never the password
  }
}
