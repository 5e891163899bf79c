package io.polyvisor.driver.hyperv.winrm;

import io.polyvisor.driver.HypervisorException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;

/**
 * How to log on to a host's WinRM listener, always over HTTPS, trusting the host's certificate
 * through the given CA when there is one, else through the JDK's trust store:
 *
 * <ul>
 *   <li>{@link Authentication#BASIC}: a user name and password in every request's header (the TLS
 *       channel protects it). Windows accepts Basic for local accounts only, and such a session
 *       holds no credentials it could pass on: a Move-VM it starts cannot authenticate to the
 *       destination host.
 *   <li>{@link Authentication#KERBEROS}: a domain principal ({@code user@REALM}) with its password
 *       or a keytab; each request carries a SPNEGO token for the host's {@code HTTP} service (see
 *       {@link KerberosLogin}).
 * </ul>
 *
 * <p>{@link #toString()} never shows a password or keytab.
 */
public final class WinRmCredentials {

  public enum Authentication { BASIC, KERBEROS }

  private final Authentication authentication;
  private final String username;
  private final Optional<String> password;
  private final Optional<byte[]> keytab;
  private final Optional<String> caCertificatePem;

  /** Basic authentication, as before Kerberos was offered. */
  public WinRmCredentials(String username, String password, Optional<String> caCertificatePem) {
    this(Authentication.BASIC, username, Optional.of(Objects.requireNonNull(password, "password")), Optional.empty(),
        caCertificatePem);
  }

  private WinRmCredentials(Authentication authentication, String username, Optional<String> password, Optional<byte[]> keytab,
      Optional<String> caCertificatePem) {
    this.authentication = authentication;
    this.username = Objects.requireNonNull(username, "username");
    this.password = password;
    this.keytab = keytab.map(byte[]::clone);
    this.caCertificatePem = Objects.requireNonNull(caCertificatePem, "caCertificatePem");
  }

  public static WinRmCredentials basic(String username, String password, Optional<String> caCertificatePem) {
    return new WinRmCredentials(username, password, caCertificatePem);
  }

  /** @param principal {@code user@REALM}; the realm is upper case in Active Directory */
  public static WinRmCredentials kerberosPassword(String principal, String password, Optional<String> caCertificatePem) {
    return new WinRmCredentials(Authentication.KERBEROS, principal, Optional.of(Objects.requireNonNull(password, "password")),
        Optional.empty(), caCertificatePem);
  }

  /** @param keytab the bytes of a keytab file holding the principal's keys */
  public static WinRmCredentials kerberosKeytab(String principal, byte[] keytab, Optional<String> caCertificatePem) {
    return new WinRmCredentials(Authentication.KERBEROS, principal, Optional.empty(),
        Optional.of(Objects.requireNonNull(keytab, "keytab")), caCertificatePem);
  }

  /** What a HypervisorClass's credentials Secret must hold, for the errors about a missing one. */
  public static final String SECRET_KEYS = "username and password (Basic), or authentication: Kerberos with username"
      + " (user@REALM) and password or keytab; ca.crt when the hosts' certificates are not publicly trusted";

  /**
   * The logon a credentials Secret describes. Keys: {@code authentication} ({@code Basic}, the
   * default, or {@code Kerberos}); {@code username} (for Kerberos the principal, {@code user@REALM});
   * {@code password}, or for Kerberos instead a {@code keytab} (the keytab file's bytes, as {@code
   * kubectl create secret --from-file=keytab=...} stores them; base64 text of them is taken too);
   * {@code ca.crt} (PEM). A combination that cannot work is refused with the key to change.
   *
   * @param secret names the Secret in the errors
   * @param key a key's decoded bytes, empty when the Secret lacks it
   */
  public static WinRmCredentials fromSecret(String secret, Function<String, Optional<byte[]>> key) {
    Function<String, Optional<String>> text = k -> key.apply(k).map(b -> new String(b, StandardCharsets.UTF_8));
    Optional<String> ca = text.apply("ca.crt");
    String mode = text.apply("authentication").map(String::trim).orElse("Basic");
    Optional<String> password = text.apply("password");
    Optional<byte[]> keytab = key.apply("keytab");
    boolean hasKeytab = keytab.isPresent();
    String username = text.apply("username").map(String::trim).filter(u -> !u.isEmpty()).orElseThrow(() -> new HypervisorException(
        "NO_CREDENTIALS", "Secret " + secret + " has no key username; add it (" + SECRET_KEYS + ")"));
    switch (mode.toLowerCase(Locale.ROOT)) {
      case "basic" -> {
        if (hasKeytab) {
          throw new HypervisorException("BAD_CREDENTIALS", "Secret " + secret + " has a key keytab but authentication is Basic,"
              + " which takes a password only; add authentication: Kerberos (with username as user@REALM) or remove keytab");
        }
        return basic(username, password.orElseThrow(() -> new HypervisorException("NO_CREDENTIALS", "Secret " + secret
            + " has no key password; add it (Basic authentication needs username and password)")), ca);
      }
      case "kerberos" -> {
        if (username.contains("\\") || !username.matches("[^@\\s]+@[^@\\s]+")) {
          throw new HypervisorException("BAD_CREDENTIALS", "Secret " + secret + ": with authentication Kerberos the key username"
              + " must be a principal user@REALM (e.g. polyvisor@HV.EXAMPLE.COM), not '" + username + "'");
        }
        if (password.isPresent() && hasKeytab) {
          throw new HypervisorException("BAD_CREDENTIALS", "Secret " + secret + " has both password and keytab for Kerberos;"
              + " remove one of the two keys");
        }
        if (password.isPresent()) {
          return kerberosPassword(username, password.get(), ca);
        }
        if (!hasKeytab) {
          throw new HypervisorException("NO_CREDENTIALS", "Secret " + secret + " has neither password nor keytab; Kerberos"
              + " authentication needs one of them (add keytab with kubectl create secret ... --from-file=keytab=<file>)");
        }
        return kerberosKeytab(username, keytabBytes(secret, keytab.get()), ca);
      }
      default -> throw new HypervisorException("BAD_CREDENTIALS", "Secret " + secret + " has authentication '" + mode
          + "'; the key authentication must be Basic or Kerberos");
    }
  }

  /** A keytab file starts with 0x05 and its version (0x02, or 0x01 from old tools). */
  private static byte[] keytabBytes(String secret, byte[] value) {
    if (isKeytab(value)) {
      return value;
    }
    try {
      byte[] decoded = Base64.getMimeDecoder().decode(new String(value, StandardCharsets.US_ASCII).trim());
      if (isKeytab(decoded)) {
        return decoded; // the file's base64 text stored as the value
      }
    } catch (IllegalArgumentException notBase64) {
      // reported below
    }
    throw new HypervisorException("BAD_CREDENTIALS", "Secret " + secret + ": the key keytab is not a keytab file (it must"
        + " start with 0x05 0x02); store the file itself: kubectl create secret generic ... --from-file=keytab=<file>");
  }

  private static boolean isKeytab(byte[] b) {
    return b.length > 2 && b[0] == 0x05 && (b[1] == 0x02 || b[1] == 0x01);
  }

  public Authentication authentication() {
    return authentication;
  }

  /** The Basic user name, or the Kerberos principal. */
  public String username() {
    return username;
  }

  /** The password; empty only for a Kerberos logon from a keytab. */
  public String password() {
    return password.orElse(null);
  }

  Optional<String> passwordIfAny() {
    return password;
  }

  /** A copy of the keytab's bytes, for a Kerberos logon from a keytab. */
  public Optional<byte[]> keytab() {
    return keytab.map(byte[]::clone);
  }

  public Optional<String> caCertificatePem() {
    return caCertificatePem;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof WinRmCredentials c && authentication == c.authentication && username.equals(c.username)
        && password.equals(c.password) && caCertificatePem.equals(c.caCertificatePem)
        && Arrays.equals(keytab.orElse(null), c.keytab.orElse(null));
  }

  @Override
  public int hashCode() {
    return Objects.hash(authentication, username, caCertificatePem);
  }

  @Override
  public String toString() {
    // never the password or the keytab
    return "WinRmCredentials[" + username + (authentication == Authentication.KERBEROS
        ? ", Kerberos with " + (keytab.isPresent() ? "keytab" : "password") : "") + "]";
  }
}
