package io.polyvisor.driver.hyperv.winrm;

import io.polyvisor.driver.HostCalls;
import io.polyvisor.driver.HostUnreachableException;
import io.polyvisor.driver.HypervisorException;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Base64;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * Runs PowerShell scripts on one Windows host through WinRM's remote shell: Create a shell,
 * Command (a fixed {@code powershell -EncodedCommand} bootstrap), Send the script as its stdin,
 * Receive until Done, Signal terminate, Delete. Only over HTTPS, with Basic authentication or
 * Kerberos (SPNEGO under {@code Authorization: Negotiate}, see {@link WinRmCredentials}); TLS protects
 * the messages, so no WinRM message encryption is used (docs/hyperv-on-real-hosts.md section 1).
 * Thread-safe: every script gets its own shell.
 *
 * <p>Kerberos: every request carries a token of a fresh security context (an AP-REQ for {@code
 * HTTP@<endpoint host>} with mutual authentication; the shell's Create also delegates the TGT, see
 * {@link KerberosLogin#negotiate}), and the server's token
 * on the answer, when there is one, is checked. MS-WSMV lets a client stop sending the header
 * once a connection is authenticated, since HTTP.sys binds Negotiate to the connection; but the
 * JDK's HttpClient pools connections and does not say which one a request takes, so a request
 * that carries its own AP-REQ is the one that is right on any connection. A 401 is answered by
 * logging on again once and resending (a ticket the host no longer takes, a new connection).
 * That a real host accepts a new AP-REQ on an authenticated connection is not confirmed.
 *
 * <p>Why stdin: the cmd shell runs the command line through cmd.exe, which refuses lines over
 * 8191 characters ("The command line is too long."), and {@code -EncodedCommand} inflates a script
 * 8/3 times, so anything over about 3000 characters failed on a real host. The bootstrap is short
 * and the same for every script; the script itself has no length limit (as Ansible does it, see
 * docs/hyperv-on-real-hosts.md section 5).
 *
 * <p>Deadlines: a script has its own (past it the command is terminated); a connection must be
 * made within the call timeout; and each HTTP exchange, body included, must end within the
 * OperationTimeout the request gives the host (for a Receive, WinRM's long poll) plus the call
 * timeout, or the host is reported hung. The whole exchange is bounded here because the JDK's
 * request timeout stops counting once the response headers have arrived.
 */
public final class WinRmClient {

  /** How long one Receive may wait on the host for output before it answers TimedOut. */
  private static final Duration OPERATION_TIMEOUT = Duration.ofSeconds(20);

  /**
   * The command every script runs under: it reads all of stdin (the script as base64 of its UTF-8
   * bytes), decodes it and runs it as one script block. Run whole, the script behaves as under
   * {@code -EncodedCommand}: an error under {@code $ErrorActionPreference = 'Stop'} ends powershell
   * with exit code 1 (fed to {@code -Command -} line by line, Stop is ignored: PowerShell#21808).
   * {@code $input | Out-String} is how Ansible's bootstrap_wrapper.ps1 reads a payload sent with
   * WinRM Send, proven there for years; {@code [Console]::In.ReadToEnd()} would be our own untried
   * variant. Base64 is ASCII, so neither the console code page nor the line breaks Out-String adds
   * (FromBase64String skips white space) can change the script. Inlined so that the script sees no
   * variable of ours.
   */
  static final String BOOTSTRAP =
      "& ([ScriptBlock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String(($input | Out-String)))))";

  /**
   * Bytes of stdin per Send. Each is base64'd once more into the envelope (80,000 characters), well
   * under the 153,600 bytes we declare as MaxEnvelopeSize and the 150 KB that older hosts accept
   * (MaxEnvelopeSizekb; 500 KB on newer ones).
   */
  static final int STDIN_CHUNK = 60_000;

  private final URI endpoint;
  /** The Basic header; null for Kerberos. */
  private final String authorization;
  /** The Kerberos logon; null for Basic. */
  private final KerberosLogin kerberos;
  private final HttpClient http;
  private final Duration callTimeout;

  /** With the default call timeout ({@link HostCalls#DEFAULT_TIMEOUT}). */
  public WinRmClient(URI endpoint, WinRmCredentials credentials) {
    this(endpoint, credentials, HostCalls.DEFAULT_TIMEOUT);
  }

  /**
   * @param callTimeout how long connecting may take, and how much longer than its OperationTimeout
   *     a request may go unanswered
   */
  public WinRmClient(URI endpoint, WinRmCredentials credentials, Duration callTimeout) {
    if (!"https".equalsIgnoreCase(endpoint.getScheme())) {
      throw new HypervisorException("INSECURE_ENDPOINT", "WinRM endpoint " + endpoint + " is not https: "
          + (credentials.authentication() == WinRmCredentials.Authentication.KERBEROS
              ? "WinRM would refuse Kerberos without message encryption, which this client does not do"
              : "Basic authentication would send the password in clear")
          + "; use https://<host>:5986/wsman");
    }
    this.endpoint = endpoint;
    if (credentials.authentication() == WinRmCredentials.Authentication.KERBEROS) {
      this.authorization = null;
      this.kerberos = new KerberosLogin(credentials);
    } else {
      this.authorization = "Basic " + Base64.getEncoder().encodeToString(
          (credentials.username() + ":" + credentials.password()).getBytes(StandardCharsets.UTF_8));
      this.kerberos = null;
    }
    this.callTimeout = callTimeout;
    HttpClient.Builder builder = HttpClient.newBuilder().connectTimeout(callTimeout);
    credentials.caCertificatePem().ifPresent(pem -> builder.sslContext(trusting(pem)));
    this.http = builder.build();
  }

  /**
   * Runs the script and returns what it printed, however it exited.
   *
   * @param deadline how long the script may run; past it the command is terminated and a
   *     {@code TIMED_OUT} {@link HypervisorException} is thrown
   */
  public PowerShellResult run(String script, Duration deadline) {
    Instant until = Instant.now().plus(deadline);
    String shellId = createShell();
    try {
      String commandId = command(shellId);
      try {
        sendStdin(shellId, commandId, script);
        return receive(shellId, commandId, until);
      } finally {
        signalTerminate(shellId, commandId);
      }
    } finally {
      deleteShell(shellId);
    }
  }

  private String createShell() {
    Document request = WsMan.request(endpoint.toString(), WsMan.ACTION_CREATE, Optional.empty(), iso(OPERATION_TIMEOUT));
    // UTF-8 output (code page 65001) instead of the host's OEM code page, so paths and messages
    // outside ASCII arrive intact.
    Element option = WsMan.append(WsMan.append(WsMan.header(request), WsMan.WSMAN, "w:OptionSet"), WsMan.WSMAN, "w:Option");
    option.setAttribute("Name", "WINRS_CODEPAGE");
    option.setTextContent("65001");
    Element shell = WsMan.append(WsMan.body(request), WsMan.SHELL, "rsp:Shell");
    WsMan.append(shell, WsMan.SHELL, "rsp:InputStreams").setTextContent("stdin");
    WsMan.append(shell, WsMan.SHELL, "rsp:OutputStreams").setTextContent("stdout stderr");
    Document response = send(request);
    return WsMan.text(response, WsMan.SHELL, "ShellId")
        .or(() -> WsMan.text(response, WsMan.WSMAN, "Selector"))
        .orElseThrow(() -> new HypervisorException("WSMAN_PROTOCOL", endpoint + " created a shell but named no ShellId"));
  }

  private String command(String shellId) {
    Document request = WsMan.request(endpoint.toString(), WsMan.ACTION_COMMAND, Optional.of(shellId), iso(OPERATION_TIMEOUT));
    // Stdin is a pipe we write with Send, not a console (MS-WSMV 3.1.4.11: the client-side mode;
    // Ansible sends FALSE whenever it sends stdin).
    Element option = WsMan.append(WsMan.append(WsMan.header(request), WsMan.WSMAN, "w:OptionSet"), WsMan.WSMAN, "w:Option");
    option.setAttribute("Name", "WINRS_CONSOLEMODE_STDIN");
    option.setTextContent("FALSE");
    Element line = WsMan.append(WsMan.body(request), WsMan.SHELL, "rsp:CommandLine");
    WsMan.append(line, WsMan.SHELL, "rsp:Command").setTextContent("powershell");
    WsMan.append(line, WsMan.SHELL, "rsp:Arguments")
        .setTextContent("-NoProfile -NonInteractive -EncodedCommand " + encode(BOOTSTRAP));
    return WsMan.text(send(request), WsMan.SHELL, "CommandId")
        .orElseThrow(() -> new HypervisorException("WSMAN_PROTOCOL", endpoint + " accepted a command but named no CommandId"));
  }

  /**
   * Writes the script to the bootstrap's stdin, in Sends of {@link #STDIN_CHUNK} bytes; the last
   * one (also the only one of an empty script) says End="true", which closes stdin so that the
   * bootstrap's read returns.
   */
  private void sendStdin(String shellId, String commandId, String script) {
    byte[] payload = Base64.getEncoder().encode(script.getBytes(StandardCharsets.UTF_8));
    int offset = 0;
    do {
      int end = Math.min(payload.length, offset + STDIN_CHUNK);
      Document request = WsMan.request(endpoint.toString(), WsMan.ACTION_SEND, Optional.of(shellId), iso(OPERATION_TIMEOUT));
      Element stream = WsMan.append(WsMan.append(WsMan.body(request), WsMan.SHELL, "rsp:Send"), WsMan.SHELL, "rsp:Stream");
      stream.setAttribute("Name", "stdin");
      stream.setAttribute("CommandId", commandId);
      if (end == payload.length) {
        stream.setAttribute("End", "true");
      }
      stream.setTextContent(Base64.getEncoder().encodeToString(Arrays.copyOfRange(payload, offset, end)));
      send(request);
      offset = end;
    } while (offset < payload.length);
  }

  /** Package-private, as is {@link #send(Document)}, so that tests can drive single steps. */
  PowerShellResult receive(String shellId, String commandId, Instant until) {
    ByteArrayOutputStream stdout = new ByteArrayOutputStream();
    ByteArrayOutputStream stderr = new ByteArrayOutputStream();
    while (true) {
      if (Instant.now().isAfter(until)) {
        throw new HypervisorException("TIMED_OUT", "the script on " + endpoint + " did not finish in time");
      }
      Duration wait = receiveWait(until);
      Document request = WsMan.request(endpoint.toString(), WsMan.ACTION_RECEIVE, Optional.of(shellId), iso(wait));
      Element desired = WsMan.append(WsMan.append(WsMan.body(request), WsMan.SHELL, "rsp:Receive"), WsMan.SHELL, "rsp:DesiredStream");
      desired.setAttribute("CommandId", commandId);
      desired.setTextContent("stdout stderr");
      Document response;
      try {
        response = send(request, wait);
      } catch (WsManFault fault) {
        if (WsMan.CODE_TIMED_OUT.equals(fault.faultCode())) {
          continue; // nothing printed yet: ask again
        }
        throw fault;
      }
      NodeList streams = response.getElementsByTagNameNS(WsMan.SHELL, "Stream");
      for (int i = 0; i < streams.getLength(); i++) {
        Element stream = (Element) streams.item(i);
        byte[] chunk = Base64.getDecoder().decode(stream.getTextContent().trim());
        ("stderr".equals(stream.getAttribute("Name")) ? stderr : stdout).writeBytes(chunk);
      }
      Optional<Element> state = WsMan.find(response, WsMan.SHELL, "CommandState");
      if (state.isPresent() && WsMan.STATE_DONE.equals(state.get().getAttribute("State"))) {
        // A DWORD: a process killed by the host exits with e.g. 3221225786 (0xC000013A).
        int exitCode = WsMan.text(state.get(), WsMan.SHELL, "ExitCode").map(c -> (int) Long.parseLong(c)).orElse(0);
        return new PowerShellResult(exitCode, stdout.toString(StandardCharsets.UTF_8), stderr.toString(StandardCharsets.UTF_8));
      }
    }
  }

  private Duration receiveWait(Instant until) {
    Duration left = Duration.between(Instant.now(), until);
    return left.compareTo(OPERATION_TIMEOUT) < 0 ? (left.isNegative() ? Duration.ofSeconds(1) : left.plusMillis(999)) : OPERATION_TIMEOUT;
  }

  private void signalTerminate(String shellId, String commandId) {
    Document request = WsMan.request(endpoint.toString(), WsMan.ACTION_SIGNAL, Optional.of(shellId), iso(OPERATION_TIMEOUT));
    Element signal = WsMan.append(WsMan.body(request), WsMan.SHELL, "rsp:Signal");
    signal.setAttribute("CommandId", commandId);
    WsMan.append(signal, WsMan.SHELL, "rsp:Code").setTextContent(WsMan.SIGNAL_TERMINATE);
    sendQuietly(request);
  }

  private void deleteShell(String shellId) {
    sendQuietly(WsMan.request(endpoint.toString(), WsMan.ACTION_DELETE, Optional.of(shellId), iso(OPERATION_TIMEOUT)));
  }

  /** Clean-up steps: the host drops idle shells by itself, so a failure here loses nothing. */
  private void sendQuietly(Document request) {
    try {
      send(request);
    } catch (HypervisorException ignored) {
      // see above
    }
  }

  Document send(Document request) {
    return send(request, OPERATION_TIMEOUT);
  }

  /** @param operationTimeout the OperationTimeout the request carries */
  private Document send(Document request, Duration operationTimeout) {
    byte[] body = WsMan.serialize(request);
    if (kerberos == null) {
      return answer(request, exchange(request, body, authorization, operationTimeout));
    }
    for (int attempt = 1; ; attempt++) {
      // Delegation on Create only: the shell's process runs in the logon its Create made, so that
      // is the session Move-VM runs in; a forwarded TGT on every request would cost a KDC round trip each.
      boolean delegate = WsMan.ACTION_CREATE.equals(WsMan.text(request, WsMan.ADDRESSING, "Action").orElse(""));
      KerberosLogin.Negotiation negotiation = kerberos.negotiate(kerberosHost(), delegate);
      HttpResponse<byte[]> response;
      try {
        response = exchange(request, body, negotiation.authorization(), operationTimeout);
      } catch (RuntimeException e) {
        negotiation.dispose();
        throw e;
      }
      if (response.statusCode() == 401) {
        negotiation.dispose();
        if (attempt == 1) {
          kerberos.invalidate(); // a ticket the host no longer takes: log on again and resend once
          continue;
        }
        throw new HypervisorException("AUTH_FAILED", "WinRM at " + endpoint + " refused the Kerberos ticket of "
            + kerberos.principal() + " for HTTP/" + kerberosHost() + " (HTTP 401); check that the host's WinRM allows"
            + " Kerberos (winrm get winrm/config/service/auth), that the endpoint names the host as its service principal"
            + " does (its FQDN, not an address) and that the principal in the credentials Secret's username key may use WinRM"
            + " there");
      }
      Optional<String> mutual = negotiation.verify(response.headers().firstValue("WWW-Authenticate"));
      if (mutual.isPresent()) {
        throw new HypervisorException("AUTH_FAILED", "WinRM at " + endpoint + ": " + mutual.get());
      }
      return answer(request, response);
    }
  }

  /** The host name Kerberos asks a ticket for: the endpoint's, without an IPv6 literal's brackets. */
  private String kerberosHost() {
    String host = endpoint.getHost();
    return host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
  }

  private HttpResponse<byte[]> exchange(Document request, byte[] body, String authorizationHeader, Duration operationTimeout) {
    HttpRequest httpRequest = HttpRequest.newBuilder(endpoint)
        .header("Content-Type", "application/soap+xml;charset=UTF-8")
        .header("Authorization", authorizationHeader)
        .POST(HttpRequest.BodyPublishers.ofByteArray(body))
        .build();
    Duration deadline = Duration.ofSeconds(Math.max(1, operationTimeout.toSeconds())).plus(callTimeout);
    CompletableFuture<HttpResponse<byte[]>> exchange = http.sendAsync(httpRequest, HttpResponse.BodyHandlers.ofByteArray());
    HttpResponse<byte[]> response;
    try {
      response = exchange.get(deadline.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      exchange.cancel(true);
      String action = WsMan.text(request, WsMan.ADDRESSING, "Action").map(a -> a.substring(a.lastIndexOf('/') + 1)).orElse("");
      throw new HostUnreachableException(HostCalls.HOST_HUNG, "WinRM at " + endpoint + " has not answered a " + action
          + " request for " + HostCalls.seconds(deadline), e);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      throw new HostUnreachableException("UNREACHABLE", "cannot reach WinRM at " + endpoint + ": "
          + (cause instanceof IOException io ? describe(io) : String.valueOf(cause)), cause);
    } catch (InterruptedException e) {
      exchange.cancel(true);
      Thread.currentThread().interrupt();
      throw new HypervisorException("INTERRUPTED", "interrupted while talking to " + endpoint, e);
    }
    return response;
  }

  private Document answer(Document request, HttpResponse<byte[]> response) {
    if (response.statusCode() == 401) {
      throw new HypervisorException("AUTH_FAILED", "WinRM at " + endpoint + " refused the credentials (HTTP 401);"
          + " check the username and password in the HypervisorClass's credentials Secret");
    }
    if (response.statusCode() == 500) {
      throw WsManFault.read(endpoint, response.body());
    }
    if (response.statusCode() != 200) {
      throw new HypervisorException("HTTP_" + response.statusCode(), "WinRM at " + endpoint + " answered HTTP " + response.statusCode());
    }
    Document reply;
    try {
      reply = WsMan.parse(response.body());
    } catch (IllegalArgumentException e) {
      throw new HypervisorException("WSMAN_PROTOCOL", "WinRM at " + endpoint + " answered with what is not a SOAP envelope", e);
    }
    String relatesTo = WsMan.text(reply, WsMan.ADDRESSING, "RelatesTo").orElse("");
    if (!relatesTo.equals(WsMan.messageId(request))) {
      throw new HypervisorException("WSMAN_PROTOCOL", "WinRM at " + endpoint + " answered another request (RelatesTo "
          + relatesTo + ")");
    }
    return reply;
  }

  private static String describe(IOException e) {
    return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
  }

  /** {@code powershell -EncodedCommand} takes the script as base64 of its UTF-16LE bytes. */
  static String encode(String script) {
    return Base64.getEncoder().encodeToString(script.getBytes(StandardCharsets.UTF_16LE));
  }

  private static String iso(Duration d) {
    return "PT" + Math.max(1, d.toSeconds()) + "S";
  }

  private static SSLContext trusting(String caPem) {
    try {
      KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
      trust.load(null, null);
      int i = 0;
      for (var cert : CertificateFactory.getInstance("X.509")
          .generateCertificates(new ByteArrayInputStream(caPem.getBytes(StandardCharsets.US_ASCII)))) {
        trust.setCertificateEntry("ca-" + i++, cert);
      }
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(trust);
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(null, tmf.getTrustManagers(), null);
      return context;
    } catch (GeneralSecurityException | IOException e) {
      throw new HypervisorException("BAD_CA", "the CA certificate for WinRM is not a PEM X.509 certificate: " + e.getMessage(), e);
    }
  }
}
