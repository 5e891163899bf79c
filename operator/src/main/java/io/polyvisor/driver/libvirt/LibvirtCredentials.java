package io.polyvisor.driver.libvirt;

import io.polyvisor.driver.Host;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Where the TLS client files for a host are: a folder holding {@code cacert.pem},
 * {@code clientcert.pem} and {@code clientkey.pem}, the names libvirt's {@code pkipath} expects,
 * written from the Secret the host's class names. Asked each time a connection opens, so that a
 * renewed certificate is used from the next connection on.
 */
@FunctionalInterface
public interface LibvirtCredentials {

  /** Hosts reached with libvirt's own defaults (the operator's {@code /etc/pki}, or no TLS at all). */
  LibvirtCredentials DEFAULTS = host -> Optional.empty();

  /**
   * The folder of the host's client files; empty when the host is reached without files of its
   * own (its endpoint is not TLS, or its class names no Secret).
   *
   * @throws io.polyvisor.driver.HypervisorException {@code NO_CREDENTIALS} when the Secret the class
   *     names is missing or incomplete
   */
  Optional<Path> pkiFolder(Host host);

  /** Whether the endpoint speaks TLS ({@code qemu+tls://...}). */
  static boolean isTls(String endpoint) {
    int scheme = endpoint.indexOf("://");
    return scheme > 0 && endpoint.substring(0, scheme).endsWith("+tls");
  }

  /**
   * The URI libvirt connects to: the endpoint, with {@code pkipath} naming the client files when
   * there are any (other query parameters of the endpoint are kept).
   */
  static String connectUri(String endpoint, Optional<Path> pkiFolder) {
    if (pkiFolder.isEmpty()) {
      return endpoint;
    }
    if (endpoint.matches(".*[?&]pkipath=.*")) {
      throw new io.polyvisor.driver.HypervisorException("INVALID_ENDPOINT", "endpoint " + endpoint + " names a pkipath of its own"
          + " while its class names a credentials Secret: remove one of them");
    }
    String separator = endpoint.contains("?") ? "&" : "?";
    return endpoint + separator + "pkipath=" + encoded(pkiFolder.get().toAbsolutePath().toString());
  }

  /** A path as a URI query value: every byte but unreserved characters and '/' percent-encoded. */
  private static String encoded(String path) {
    StringBuilder out = new StringBuilder();
    for (byte b : path.getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
      char c = (char) (b & 0xff);
      if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || "-._~/".indexOf(c) >= 0) {
        out.append(c);
      } else {
        out.append('%').append(String.format("%02X", b & 0xff));
      }
    }
    return out.toString();
  }
}
