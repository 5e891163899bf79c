package io.polyvisor.driver.hyperv.winrm;

import io.polyvisor.driver.HypervisorException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.PrivilegedActionException;
import java.security.PrivilegedExceptionAction;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import javax.security.auth.Subject;
import javax.security.auth.callback.Callback;
import javax.security.auth.callback.NameCallback;
import javax.security.auth.callback.PasswordCallback;
import javax.security.auth.callback.UnsupportedCallbackException;
import javax.security.auth.kerberos.KerberosTicket;
import javax.security.auth.login.AppConfigurationEntry;
import javax.security.auth.login.Configuration;
import javax.security.auth.login.LoginContext;
import javax.security.auth.login.LoginException;
import org.ietf.jgss.GSSContext;
import org.ietf.jgss.GSSException;
import org.ietf.jgss.GSSManager;
import org.ietf.jgss.GSSName;
import org.ietf.jgss.Oid;

/**
 * A Kerberos logon of one principal, through the JDK alone: JAAS {@code Krb5LoginModule} for the
 * TGT (from the password or a keytab; never a ticket cache or a prompt), and GSS-API SPNEGO tokens
 * for a host's {@code HTTP} service, as WinRM's {@code Authorization: Negotiate} takes them.
 *
 * <p>The realm's KDCs come from the JVM's Kerberos configuration: the system property {@code
 * java.security.krb5.conf}, else {@code /etc/krb5.conf}. It is global to the JVM (every logon uses
 * the same file), and it is read again at each logon ({@code refreshKrb5Config}).
 *
 * <p>The Subject is kept and reused until its TGT is within {@link #RENEW_BEFORE} of its end, or
 * until {@link #invalidate()} (a host answered 401), then the principal logs on again. Thread-safe.
 */
final class KerberosLogin {

  /** SPNEGO, which Windows expects under the Negotiate scheme (docs/hyperv-on-real-hosts.md, section 1). */
  static final Oid SPNEGO = oid("1.3.6.1.5.5.2");
  /** Log on again this long before the TGT ends, so that no request goes out with a dying ticket. */
  static final Duration RENEW_BEFORE = Duration.ofMinutes(10);

  private final String principal;
  private final Optional<String> password;
  private final Optional<byte[]> keytab;
  private Subject subject;

  KerberosLogin(WinRmCredentials credentials) {
    if (credentials.authentication() != WinRmCredentials.Authentication.KERBEROS) {
      throw new IllegalArgumentException("not a Kerberos logon: " + credentials);
    }
    this.principal = credentials.username();
    this.password = credentials.passwordIfAny();
    this.keytab = credentials.keytab();
    if (password.isEmpty() && keytab.isEmpty()) {
      throw new IllegalArgumentException("a Kerberos logon needs a password or a keytab");
    }
  }

  String principal() {
    return principal;
  }

  /** Forgets the Subject, so that the next request logs on again (after a 401, say). */
  synchronized void invalidate() {
    subject = null;
  }

  /** The logged-on Subject, logging on first when there is none or its TGT is about to end. */
  synchronized Subject subject() {
    if (subject == null || expiring(subject)) {
      subject = login();
    }
    return subject;
  }

  private static boolean expiring(Subject subject) {
    Instant soon = Instant.now().plus(RENEW_BEFORE);
    return subject.getPrivateCredentials(KerberosTicket.class).stream()
        .filter(t -> t.getServer().getName().startsWith("krbtgt/"))
        .noneMatch(t -> t.isCurrent() && t.getEndTime() != null && t.getEndTime().toInstant().isAfter(soon));
  }

  private Subject login() {
    Map<String, String> options = new HashMap<>();
    options.put("principal", principal);
    options.put("isInitiator", "true");
    options.put("storeKey", "false"); // the Subject holds tickets only; a new logon uses what we hold
    options.put("useTicketCache", "false");
    options.put("refreshKrb5Config", "true");
    Path keytabFile = null;
    try {
      if (keytab.isPresent()) {
        keytabFile = writeKeytab(keytab.get());
        options.put("useKeyTab", "true");
        options.put("keyTab", keytabFile.toString());
        options.put("doNotPrompt", "true");
      } else {
        options.put("useKeyTab", "false");
        options.put("doNotPrompt", "false"); // the password comes through the callback, never a console
      }
      Subject fresh = new Subject();
      Configuration configuration = new Configuration() {
        @Override
        public AppConfigurationEntry[] getAppConfigurationEntry(String name) {
          return new AppConfigurationEntry[] {new AppConfigurationEntry("com.sun.security.auth.module.Krb5LoginModule",
              AppConfigurationEntry.LoginModuleControlFlag.REQUIRED, options)};
        }
      };
      LoginContext context = new LoginContext("polyvisor-winrm", fresh, this::answer, configuration);
      context.login();
      return fresh;
    } catch (LoginException e) {
      throw loginFailed(e);
    } finally {
      if (keytabFile != null) {
        try {
          Files.deleteIfExists(keytabFile); // only read during the logon: the Subject keeps no key
        } catch (IOException ignored) {
          keytabFile.toFile().deleteOnExit();
        }
      }
    }
  }

  private void answer(Callback[] callbacks) throws UnsupportedCallbackException {
    for (Callback callback : callbacks) {
      if (callback instanceof NameCallback name) {
        name.setName(principal);
      } else if (callback instanceof PasswordCallback pw && password.isPresent()) {
        pw.setPassword(password.get().toCharArray());
      } else {
        throw new UnsupportedCallbackException(callback);
      }
    }
  }

  private HypervisorException loginFailed(LoginException e) {
    // The LoginException's own message carries the KDC's error ("Pre-authentication information
    // was invalid (24)"); its causes add JDK internals only.
    String cause = e.getMessage() != null ? e.getMessage()
        : e.getCause() != null && e.getCause().getMessage() != null ? e.getCause().getMessage() : e.getClass().getSimpleName();
    String lower = cause.toLowerCase(java.util.Locale.ROOT);
    if (lower.contains("cannot contact any kdc") || lower.contains("timed out") || lower.contains("connection refused")
        || lower.contains("cannot locate kdc") || lower.contains("cannot locate default realm")) {
      return new HypervisorException("KDC_UNREACHABLE", "the Kerberos logon of " + principal + " could not reach a KDC ("
          + cause + "); check the realm's kdc entries in the operator's krb5.conf (java.security.krb5.conf or /etc/krb5.conf)", e);
    }
    return new HypervisorException("AUTH_FAILED", "the KDC refused the Kerberos logon of " + principal + " (" + cause
        + "); check the keys username (the principal, user@REALM) and " + (keytab.isPresent() ? "keytab" : "password")
        + " in the HypervisorClass's credentials Secret", e);
  }

  private static Path writeKeytab(byte[] bytes) {
    try {
      Path file = Files.createTempFile("polyvisor-winrm-", ".keytab",
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
      Files.write(file, bytes);
      return file;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the keytab to a temporary file", e);
    }
  }

  /**
   * Starts a security context for {@code HTTP@host} and makes its first token.
   *
   * <p>With {@code delegate}, delegation is asked for ({@code requestCredDeleg}): the principal's forwardable TGT goes
   * along, so that the session on the host holds credentials it can use to reach the migration's
   * destination (Move-VM's second hop; this is what the simulator checks). Where Active Directory
   * has the hosts trusted for constrained delegation (docs/hyperv-on-real-hosts.md section 1), the
   * host uses S4U2Proxy instead and the forwarded TGT is not needed; a domain policy may also
   * refuse it (the TGT must be forwardable). Neither is confirmed on a real host.
   *
   * @param host the endpoint's host name as the client wrote it: the FQDN on a real host, whose
   *     computer account has {@code HOST/<fqdn>}, which the KDC maps {@code HTTP/<fqdn>} to
   * @param delegate whether to forward the TGT (for the request that creates a shell)
   */
  Negotiation negotiate(String host, boolean delegate) {
    Subject subject = subject();
    try {
      return doAs(subject, () -> {
        GSSManager manager = GSSManager.getInstance();
        GSSName service = manager.createName("HTTP@" + host, GSSName.NT_HOSTBASED_SERVICE);
        GSSContext context = manager.createContext(service, SPNEGO, null, GSSContext.DEFAULT_LIFETIME);
        context.requestMutualAuth(true);
        context.requestCredDeleg(delegate);
        byte[] token = context.initSecContext(new byte[0], 0, 0);
        return new Negotiation(subject, context, "Negotiate " + Base64.getEncoder().encodeToString(token));
      });
    } catch (GSSException e) {
      throw new HypervisorException("AUTH_FAILED", "cannot get a Kerberos ticket for HTTP/" + host + " as " + principal + ": "
          + e.getMessage() + " (the KDC must know the service principal HTTP/" + host + " or HOST/" + host
          + "; name the host by its FQDN, not an address)", e);
    }
  }

  /** One request's security context: the header to send, then the server's answer to check. */
  static final class Negotiation {
    private final Subject subject;
    private final GSSContext context;
    private final String authorization;

    private Negotiation(Subject subject, GSSContext context, String authorization) {
      this.subject = subject;
      this.context = context;
      this.authorization = authorization;
    }

    String authorization() {
      return authorization;
    }

    /**
     * Checks the server's mutual-authentication token, when it sent one ({@code WWW-Authenticate:
     * Negotiate <token>}); over HTTPS the server is already authenticated by TLS, so an answer
     * without one is accepted.
     *
     * @return an error message, or empty when the token was good or absent
     */
    Optional<String> verify(Optional<String> wwwAuthenticate) {
      try {
        Optional<String> token = wwwAuthenticate.map(String::trim)
            .filter(h -> h.regionMatches(true, 0, "Negotiate ", 0, 10)).map(h -> h.substring(10).trim());
        if (token.isEmpty()) {
          return Optional.empty();
        }
        byte[] bytes = Base64.getDecoder().decode(token.get());
        doAs(subject, () -> context.initSecContext(bytes, 0, bytes.length));
        return context.isEstablished() ? Optional.empty()
            : Optional.of("the server's Negotiate token did not complete the security context");
      } catch (GSSException | IllegalArgumentException e) {
        return Optional.of("the server's Negotiate token failed mutual authentication: " + e.getMessage());
      } finally {
        dispose();
      }
    }

    void dispose() {
      try {
        context.dispose();
      } catch (GSSException ignored) {
        // nothing held that outlives the context
      }
    }
  }

  private interface GssAction<T> {
    T run() throws GSSException;
  }

  @SuppressWarnings("removal") // Subject.doAs: Java 17's way to give GSS-API the Subject (callAs is 18+)
  private static <T> T doAs(Subject subject, GssAction<T> action) throws GSSException {
    try {
      return Subject.doAs(subject, (PrivilegedExceptionAction<T>) action::run);
    } catch (PrivilegedActionException e) {
      if (e.getException() instanceof GSSException g) {
        throw g;
      }
      throw new IllegalStateException(e.getException());
    }
  }

  private static Oid oid(String dotted) {
    try {
      return new Oid(dotted);
    } catch (GSSException e) {
      throw new ExceptionInInitializerError(e);
    }
  }
}
