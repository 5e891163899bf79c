package io.polyvisor.testing.hyperv;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.polyvisor.driver.hyperv.winrm.WsMan;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.PrivilegedExceptionAction;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.security.auth.Subject;
import javax.security.auth.login.AppConfigurationEntry;
import javax.security.auth.login.Configuration;
import javax.security.auth.login.LoginContext;
import org.ietf.jgss.GSSContext;
import org.ietf.jgss.GSSCredential;
import org.ietf.jgss.GSSException;
import org.ietf.jgss.GSSManager;
import org.ietf.jgss.Oid;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

/**
 * A Windows host's WinRM listener over HTTPS, running PowerShell against a {@link
 * SimulatedHyperVHost}: Basic authentication (401 otherwise), the shell steps of MS-WSMV with
 * RelatesTo on every answer, Command and Arguments joined, {@code -EncodedCommand} decoded from
 * UTF-16LE, Receive answering the TimedOut fault while a command runs past the operation timeout,
 * Signal terminate stopping it, errors on stderr as CLIXML in PowerShell's error view (wrapped
 * message, position, category: {@link ErrorView}) after a progress record (as real hosts print
 * even on success), and exit code 1 after an error.
 *
 * <p>As strict as a real host about the command line and stdin: a line over 8191 characters is
 * refused by cmd.exe (exit code 1, its plain-text message on stderr) unless the Command sets
 * WINRS_SKIP_CMD_SHELL=TRUE (then CreateProcess's 32767 is the limit). Send is accepted only for a
 * stream the shell declared in InputStreams and a command of that shell, until End="true". A
 * command runs either a script of its own ({@code -EncodedCommand <script>}) or the one stdin
 * bootstrap this simulator knows ({@link #BOOTSTRAP}), which runs the base64 script sent on stdin
 * once stdin has ended. Every powershell.exe takes {@link #processStartup(Duration)} to start; a
 * command terminated or deleted before then never runs its script.
 *
 * <p>Kerberos ({@link #kerberos(Path, String)}): the listener then takes {@code Authorization:
 * Negotiate <token>} only (Basic as well after {@link #acceptBasicToo()}), each token accepted by a
 * fresh context of the JDK's GSS acceptor logged on from the service's keytab, so only a real
 * ticket for the service principal from the realm's KDC gets in; the acceptor's token (mutual
 * authentication) goes back in {@code WWW-Authenticate}. A shell belongs to whoever created it
 * (another caller gets Access denied) and holds delegable credentials when the request that
 * created it delegated a TGT; the scripts run in it see that ({@link WinRmSession}), which Move-VM
 * on a host with {@link SimulatedHyperVHost#kerberosMigration()} needs. A Basic session never
 * holds delegable credentials. A real host checks per connection, after the first request; this
 * one checks every request, as a client that sends a token with each must expect anyway.
 *
 * <p>This is the project's stand-in for a Windows host, which is not reachable from here. It is
 * written from HYPERV-NOTES (Microsoft's documentation and pywinrm's captured exchanges), not
 * captured from a host: agreement with it is necessary, not sufficient.
 */
public final class WinRmSimulator implements AutoCloseable {

  /**
   * The stdin bootstrap, written here from Ansible's bootstrap_wrapper.ps1 ({@code $input |
   * Out-String}, then a ScriptBlock), not taken from the client: a client whose bootstrap differs
   * is refused, as one the simulator cannot vouch for.
   */
  static final String BOOTSTRAP =
      "& ([ScriptBlock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String(($input | Out-String)))))";
  /** cmd.exe's limit (KB 830473); a longer line never reaches powershell. */
  private static final int CMD_LINE_LIMIT = 8191;
  /** CreateProcess's limit on a command line, what is left with WINRS_SKIP_CMD_SHELL=TRUE. */
  private static final int CREATE_PROCESS_LIMIT = 32767;
  private static final Pattern ENCODED = Pattern.compile("(?i)^powershell(?:\\.exe)?\\b.*-(?:EncodedCommand|enc|e)\\s+([A-Za-z0-9+/=]+)\\s*$");
  private static final Pattern ISO_SECONDS = Pattern.compile("^PT(\\d+(?:\\.\\d+)?)S$");
  private static final String PROGRESS_RECORD = "<Obj S=\"progress\" RefId=\"0\"><TN RefId=\"0\"><T>System.Management.Automation.PSCustomObject</T>"
      + "<T>System.Object</T></TN><MS><I64 N=\"SourceId\">1</I64><PR N=\"Record\"><AV>Preparing modules for first use.</AV>"
      + "<AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>";

  private final SimulatedHyperVHost host;
  private final String authorization;
  private final String basicUser;
  /** The acceptor's logon from the service keytab, in Kerberos mode; null for Basic only. */
  private volatile Subject acceptor;
  private volatile String servicePrincipal;
  private volatile boolean acceptBasic = true;
  private final List<Caller> callers = new CopyOnWriteArrayList<>();
  private final List<Caller> shellCreators = new CopyOnWriteArrayList<>();
  private final List<String> authenticationFailures = new CopyOnWriteArrayList<>();
  private final HttpsServer server;
  private final ExecutorService commands = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "winrm-simulator-command");
    t.setDaemon(true);
    return t;
  });
  private final Map<String, Shell> shells = new ConcurrentHashMap<>();
  private final List<String> scripts = new CopyOnWriteArrayList<>();
  private final List<String> scriptsRun = new CopyOnWriteArrayList<>();
  private final List<String> rawRequests = new CopyOnWriteArrayList<>();
  private volatile Duration maxOperationTimeout = Duration.ofSeconds(60);
  private volatile boolean stallReceives;
  private volatile Duration processStartup = Duration.ofMillis(50);
  private final CountDownLatch closed = new CountDownLatch(1);

  private record Shell(Set<String> inputStreams, Map<String, ShellProcess> commands, Caller creator) {}

  /**
   * Who made an authenticated request: the user or principal, the scheme ({@code Basic} or {@code
   * Negotiate}), and whether it delegated credentials (a forwarded TGT) to this host.
   */
  public record Caller(String principal, String scheme, boolean delegable) {}

  private record Authenticated(Caller caller, String replyToken) {}

  private record Output(int exitCode, String stdout, String stderr) {}

  /** One command's process: its stdin, its script once known, and whether it began or was ended. */
  private static final class ShellProcess {
    /** Known at Command for a script of its own; for the bootstrap, once stdin has ended. */
    final CompletableFuture<String> script = new CompletableFuture<>();
    final boolean readsStdin;
    /** Whether the session it runs in holds delegable credentials. */
    final boolean delegable;
    private final ByteArrayOutputStream stdin = new ByteArrayOutputStream();
    private boolean stdinEnded;
    private boolean terminated;
    volatile Future<Output> output;

    ShellProcess(boolean readsStdin, boolean delegable) {
      this.readsStdin = readsStdin;
      this.delegable = delegable;
    }

    /** Appends to stdin; the whole of stdin once this ended it, else null. */
    synchronized byte[] input(byte[] data, boolean end) {
      if (stdinEnded) {
        // Which fault a real host gives here is not confirmed; that it refuses is certain enough.
        throw new Fault("w:InvalidParameter", "2150859147", "The command's input stream has already ended (End=\"true\").");
      }
      stdin.writeBytes(data);
      stdinEnded = end;
      return end ? stdin.toByteArray() : null;
    }

    /** Whether the script may begin: not if Signal or Delete came first. */
    synchronized boolean begin() {
      return !terminated;
    }

    void terminate() {
      synchronized (this) {
        terminated = true;
      }
      output.cancel(true); // a script that began is interrupted, as today; one waiting never begins
    }
  }

  /**
   * @param tls a PKCS12 key store (password "changeit") whose certificate names 127.0.0.1, see {@link
   *     TestCertificate}
   */
  public WinRmSimulator(SimulatedHyperVHost host, String username, String password, Path tls) throws Exception {
    this.host = host;
    this.basicUser = username;
    this.authorization = "Basic " + Base64.getEncoder().encodeToString((username + ":" + password).getBytes(StandardCharsets.UTF_8));
    KeyStore keys = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(tls)) {
      keys.load(in, TestCertificate.PASSWORD.toCharArray());
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(keys, TestCertificate.PASSWORD.toCharArray());
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(kmf.getKeyManagers(), null, null);
    server = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.setHttpsConfigurator(new HttpsConfigurator(context));
    server.setExecutor(Executors.newFixedThreadPool(4));
    server.createContext("/wsman", this::handle);
    server.start();
  }

  /**
   * Kerberos from now on: requests must carry {@code Authorization: Negotiate} with a ticket for
   * the service principal, whose keys are in the keytab; Basic is refused unless {@link
   * #acceptBasicToo()}. The JVM's {@code java.security.krb5.conf} must name the realm (see {@link
   * TestKdc#shared()}).
   *
   * @param servicePrincipal e.g. {@code HTTP/127.0.0.1@POLYVISOR.TEST}
   */
  public WinRmSimulator kerberos(Path keytab, String servicePrincipal) throws Exception {
    Map<String, String> options = Map.of("principal", servicePrincipal, "useKeyTab", "true", "keyTab", keytab.toString(),
        "storeKey", "true", "isInitiator", "false", "doNotPrompt", "true", "useTicketCache", "false", "refreshKrb5Config", "true");
    Configuration configuration = new Configuration() {
      @Override
      public AppConfigurationEntry[] getAppConfigurationEntry(String name) {
        return new AppConfigurationEntry[] {new AppConfigurationEntry("com.sun.security.auth.module.Krb5LoginModule",
            AppConfigurationEntry.LoginModuleControlFlag.REQUIRED, options)};
      }
    };
    Subject subject = new Subject();
    new LoginContext("winrm-simulator-acceptor", subject, callbacks -> {
      throw new javax.security.auth.callback.UnsupportedCallbackException(callbacks[0]);
    }, configuration).login();
    this.servicePrincipal = servicePrincipal;
    this.acceptBasic = false;
    this.acceptor = subject;
    return this;
  }

  /** In Kerberos mode, takes Basic as well (a host with both enabled in its WinRM service auth). */
  public WinRmSimulator acceptBasicToo() {
    acceptBasic = true;
    return this;
  }

  /** Every authenticated request's caller so far, in order. */
  public List<Caller> callers() {
    return List.copyOf(callers);
  }

  /** The creator of every shell so far, in order: whose session its scripts ran in. */
  public List<Caller> shellCreators() {
    return List.copyOf(shellCreators);
  }

  /** Why each refused Negotiate token was refused (the acceptor's message). */
  public List<String> authenticationFailures() {
    return List.copyOf(authenticationFailures);
  }

  public URI endpoint() {
    return URI.create("https://127.0.0.1:" + server.getAddress().getPort() + "/wsman");
  }

  public SimulatedHyperVHost host() {
    return host;
  }

  /**
   * Every script handed to powershell so far, decoded: given to -EncodedCommand, or sent to the
   * bootstrap's stdin (once stdin ended), whether or not it then ran.
   */
  public List<String> scripts() {
    return List.copyOf(scripts);
  }

  /** Those of {@link #scripts()} that began to run: not those ended before powershell had started. */
  public List<String> scriptsRun() {
    return List.copyOf(scriptsRun);
  }

  /** How long each powershell.exe takes to start before its script runs (50 ms unless set). */
  public void processStartup(Duration startup) {
    this.processStartup = startup;
  }

  /** Every request body received so far, as sent. */
  public List<String> rawRequests() {
    return List.copyOf(rawRequests);
  }

  /**
   * From now on every Receive is answered with its headers and half its body, and then nothing
   * until the simulator is closed, as by a host that froze in the middle of an answer.
   */
  public void stallReceives() {
    stallReceives = true;
  }

  /** Caps how long a Receive waits before it answers TimedOut, whatever the client asked. */
  public void maxOperationTimeout(Duration timeout) {
    this.maxOperationTimeout = timeout;
  }

  private void handle(HttpExchange exchange) throws IOException {
    try (exchange) {
      byte[] body = exchange.getRequestBody().readAllBytes();
      Authenticated authenticated = authenticate(exchange.getRequestHeaders().getFirst("Authorization"));
      if (authenticated == null) {
        if (acceptor != null) {
          exchange.getResponseHeaders().add("WWW-Authenticate", "Negotiate");
        }
        if (acceptBasic) {
          exchange.getResponseHeaders().add("WWW-Authenticate", "Basic realm=\"WSMAN\"");
        }
        exchange.sendResponseHeaders(401, -1);
        return;
      }
      callers.add(authenticated.caller());
      rawRequests.add(new String(body, StandardCharsets.UTF_8));
      Document request = WsMan.parse(body);
      Reply reply;
      try {
        reply = answer(request, authenticated.caller());
      } catch (Fault f) {
        reply = new Reply(500, fault(request, f));
      }
      byte[] out = WsMan.serialize(reply.document());
      if (authenticated.replyToken() != null) {
        exchange.getResponseHeaders().add("WWW-Authenticate", "Negotiate " + authenticated.replyToken());
      }
      exchange.getResponseHeaders().add("Content-Type", "application/soap+xml;charset=UTF-8");
      exchange.sendResponseHeaders(reply.status(), out.length);
      if (stallReceives && WsMan.ACTION_RECEIVE.equals(WsMan.text(request, WsMan.ADDRESSING, "Action").orElse(""))) {
        // The headers and a first piece of the body, then nothing: a host that froze mid-answer.
        exchange.getResponseBody().write(out, 0, out.length / 2);
        exchange.getResponseBody().flush();
        try {
          closed.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        return;
      }
      exchange.getResponseBody().write(out);
    }
  }

  /** The request's caller, or null when it is to be refused with 401. */
  private Authenticated authenticate(String header) {
    if (header == null) {
      return null;
    }
    if (header.regionMatches(true, 0, "Basic ", 0, 6)) {
      return acceptBasic && authorization.equals(header) ? new Authenticated(new Caller(basicUser, "Basic", false), null) : null;
    }
    Subject subject = acceptor;
    if (subject == null || !header.regionMatches(true, 0, "Negotiate ", 0, 10)) {
      return null;
    }
    byte[] token;
    try {
      token = Base64.getDecoder().decode(header.substring(10).trim());
    } catch (IllegalArgumentException e) {
      authenticationFailures.add("not base64: " + e.getMessage());
      return null;
    }
    try {
      return doAs(subject, () -> {
        GSSManager manager = GSSManager.getInstance();
        // SPNEGO as Windows expects under Negotiate, and a bare Kerberos token, which Windows takes too.
        GSSCredential credential = manager.createCredential(null, GSSCredential.INDEFINITE_LIFETIME,
            new Oid[] {new Oid("1.3.6.1.5.5.2"), new Oid("1.2.840.113554.1.2.2")}, GSSCredential.ACCEPT_ONLY);
        GSSContext context = manager.createContext(credential);
        try {
          byte[] reply = context.acceptSecContext(token, 0, token.length);
          if (!context.isEstablished()) {
            authenticationFailures.add("the token did not establish a context in one round");
            return null;
          }
          if (!context.getTargName().toString().equalsIgnoreCase(servicePrincipal)) {
            authenticationFailures.add("a ticket for " + context.getTargName() + ", not " + servicePrincipal);
            return null;
          }
          // The client's forwarded TGT, which the session can use to reach another host.
          boolean delegated = context.getCredDelegState() && context.getDelegCred() != null;
          return new Authenticated(new Caller(context.getSrcName().toString(), "Negotiate", delegated),
              reply == null ? null : Base64.getEncoder().encodeToString(reply));
        } finally {
          context.dispose();
        }
      });
    } catch (GSSException e) {
      authenticationFailures.add(e.getMessage());
      return null;
    }
  }

  private interface GssAction<T> {
    T run() throws GSSException;
  }

  @SuppressWarnings("removal")
  private static <T> T doAs(Subject subject, GssAction<T> action) throws GSSException {
    try {
      return Subject.doAs(subject, (PrivilegedExceptionAction<T>) action::run);
    } catch (java.security.PrivilegedActionException e) {
      if (e.getException() instanceof GSSException g) {
        throw g;
      }
      throw new IllegalStateException(e.getException());
    }
  }

  private record Reply(int status, Document document) {}

  private static final class Fault extends RuntimeException {
    final String subcode;
    final String code;

    Fault(String subcode, String code, String message) {
      super(message);
      this.subcode = subcode;
      this.code = code;
    }
  }

  private Reply answer(Document request, Caller caller) {
    Element header = WsMan.header(request);
    for (String required : List.of("To", "MessageID", "Action")) {
      if (WsMan.text(header, WsMan.ADDRESSING, required).isEmpty()) {
        throw new Fault("w:InvalidHeader", "2150858770", "the request has no " + required + " header");
      }
    }
    if (!WsMan.RESOURCE_CMD.equals(WsMan.text(header, WsMan.WSMAN, "ResourceURI").orElse(""))) {
      throw new Fault("w:DestinationUnreachable", "2150858770", "the resource URI is not the cmd shell");
    }
    String action = WsMan.text(header, WsMan.ADDRESSING, "Action").orElseThrow();
    Shell existing = shells.get(shellId(request));
    if (existing != null && !existing.creator().principal().equalsIgnoreCase(caller.principal())) {
      throw new Fault("w:AccessDenied", "5", "Access is denied."); // another user's shell
    }
    return switch (action) {
      case WsMan.ACTION_CREATE -> create(request, caller);
      case WsMan.ACTION_COMMAND -> command(request);
      case WsMan.ACTION_SEND -> send(request);
      case WsMan.ACTION_RECEIVE -> receive(request);
      case WsMan.ACTION_SIGNAL -> signal(request);
      case WsMan.ACTION_DELETE -> delete(request);
      default -> throw new Fault("a:ActionNotSupported", "2150858891", "unknown action " + action);
    };
  }

  private Reply create(Document request, Caller caller) {
    String id = UUID.randomUUID().toString().toUpperCase(Locale.ROOT);
    // Only the streams declared here take input; none when the element is missing.
    Set<String> inputs = Arrays.stream(WsMan.text(WsMan.body(request), WsMan.SHELL, "InputStreams").orElse("").split("\\s+"))
        .filter(n -> !n.isEmpty()).collect(Collectors.toUnmodifiableSet());
    shells.put(id, new Shell(inputs, new ConcurrentHashMap<>(), caller));
    shellCreators.add(caller);
    Document response = response(request, WsMan.ACTION_CREATE + "Response");
    Element created = WsMan.append(WsMan.body(response), WsMan.TRANSFER, "x:ResourceCreated");
    WsMan.append(created, WsMan.ADDRESSING, "a:Address").setTextContent(endpoint().toString());
    Element parameters = WsMan.append(created, WsMan.ADDRESSING, "a:ReferenceParameters");
    WsMan.append(parameters, WsMan.WSMAN, "w:ResourceURI").setTextContent(WsMan.RESOURCE_CMD);
    Element selector = WsMan.append(WsMan.append(parameters, WsMan.WSMAN, "w:SelectorSet"), WsMan.WSMAN, "w:Selector");
    selector.setAttribute("Name", "ShellId");
    selector.setTextContent(id);
    WsMan.append(WsMan.append(WsMan.body(response), WsMan.SHELL, "rsp:Shell"), WsMan.SHELL, "rsp:ShellId").setTextContent(id);
    return new Reply(200, response);
  }

  private Reply command(Document request) {
    Shell shell = shell(request);
    String command = WsMan.text(request, WsMan.SHELL, "Command").orElse("");
    String arguments = WsMan.text(request, WsMan.SHELL, "Arguments").orElse("");
    String line = (command + " " + arguments).strip(); // some clients split the line, some do not
    boolean skipCmdShell = "TRUE".equalsIgnoreCase(option(request, "WINRS_SKIP_CMD_SHELL"));
    if (skipCmdShell && line.length() > CREATE_PROCESS_LIMIT) {
      // No cmd.exe to print a message: CreateProcess fails (ERROR_FILENAME_EXCED_RANGE, 206). How a
      // real host reports that is not confirmed.
      throw new Fault("w:InternalError", "2147942606", "The filename or extension is too long.");
    }
    ShellProcess process;
    if (!skipCmdShell && line.length() > CMD_LINE_LIMIT) {
      // cmd.exe starts, refuses the line and exits 1, in plain text: powershell is never started.
      process = new ShellProcess(false, shell.creator().delegable());
      process.output = CompletableFuture.completedFuture(new Output(1, "", "The command line is too long.\r\n"));
    } else {
      Matcher encoded = ENCODED.matcher(line);
      if (!encoded.matches()) {
        throw new Fault("w:InternalError", "2147942402", "the simulator runs powershell -EncodedCommand only, not: " + line);
      }
      String decoded = new String(Base64.getDecoder().decode(encoded.group(1)), StandardCharsets.UTF_16LE);
      process = new ShellProcess(decoded.strip().equals(BOOTSTRAP), shell.creator().delegable());
      if (!process.readsStdin) {
        scripts.add(decoded);
        process.script.complete(decoded);
      }
      ShellProcess started = process;
      process.output = commands.submit(() -> start(started));
    }
    String commandId = UUID.randomUUID().toString().toUpperCase(Locale.ROOT);
    shell.commands().put(commandId, process);
    Document response = response(request, WsMan.ACTION_COMMAND + "Response");
    WsMan.append(WsMan.append(WsMan.body(response), WsMan.SHELL, "rsp:CommandResponse"), WsMan.SHELL, "rsp:CommandId")
        .setTextContent(commandId);
    return new Reply(200, response);
  }

  /** The process: powershell.exe starting, the script (the bootstrap waiting for stdin), then running it. */
  private Output start(ShellProcess process) throws InterruptedException {
    Thread.sleep(processStartup.toMillis());
    String script;
    try {
      script = process.script.get();
    } catch (ExecutionException e) {
      // The bootstrap's FromBase64String threw: a terminating error, exit code 1.
      return output(new PowerShellSubset.Outcome("", List.of(ErrorView.ErrorRecord.of(e.getCause().getMessage()))));
    }
    if (!process.begin()) {
      throw new CancellationException("terminated before its script began");
    }
    scriptsRun.add(script);
    return execute(script, process.delegable);
  }

  private Output execute(String script, boolean delegable) {
    PowerShellSubset.Outcome outcome;
    try {
      outcome = WinRmSession.run(delegable, () -> PowerShellSubset.run(script, host));
    } catch (RuntimeException e) {
      outcome = new PowerShellSubset.Outcome("", List.of(ErrorView.ErrorRecord.of("simulator: " + e)));
    }
    return output(outcome);
  }

  private static Output output(PowerShellSubset.Outcome outcome) {
    StringBuilder stderr = new StringBuilder("#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">");
    stderr.append(PROGRESS_RECORD);
    for (ErrorView.ErrorRecord error : outcome.errors()) {
      for (String line : ErrorView.lines(error)) {
        stderr.append("<S S=\"Error\">").append(clixmlEscape(line + "\r\n")).append("</S>");
      }
    }
    stderr.append("</Objs>");
    return new Output(outcome.errors().isEmpty() ? 0 : 1, outcome.stdout(), stderr.toString());
  }

  /** XML-escapes the text and writes line breaks as CLIXML's _x000D__x000A_. */
  private static String clixmlEscape(String text) {
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace("\r", "_x000D_").replace("\n", "_x000A_");
  }

  /** Input for a command's stdin; the bootstrap's script is known once it ends. */
  private Reply send(Document request) {
    Shell shell = shell(request);
    var streams = request.getElementsByTagNameNS(WsMan.SHELL, "Stream");
    if (WsMan.find(request, WsMan.SHELL, "Send").isEmpty() || streams.getLength() == 0) {
      throw new Fault("w:InvalidParameter", "2150858882", "Send carries no rsp:Send/rsp:Stream");
    }
    for (int i = 0; i < streams.getLength(); i++) {
      Element stream = (Element) streams.item(i);
      String name = stream.getAttribute("Name");
      if (!shell.inputStreams().contains(name)) {
        // ERROR_WSMAN_SHELL_INVALID_INPUT_STREAM
        throw new Fault("w:InvalidParameter", "2150859147", "The shell was not created with input stream '" + name + "'.");
      }
      ShellProcess process = shell.commands().get(stream.getAttribute("CommandId"));
      if (process == null) {
        throw new Fault("w:InvalidSelectors", "2150858843", "no command " + stream.getAttribute("CommandId") + " in this shell");
      }
      byte[] data;
      try {
        data = Base64.getDecoder().decode(stream.getTextContent().strip());
      } catch (IllegalArgumentException e) {
        throw new Fault("w:InvalidParameter", "2150858882", "the stream is not base64: " + e.getMessage());
      }
      String end = stream.getAttribute("End"); // xs:boolean
      byte[] whole = process.input(data, end.equals("true") || end.equals("1"));
      if (whole != null && process.readsStdin) {
        bootstrapRead(process, whole);
      }
    }
    Document response = response(request, WsMan.ACTION_SEND + "Response");
    WsMan.append(WsMan.body(response), WsMan.SHELL, "rsp:SendResponse");
    return new Reply(200, response);
  }

  /** What the bootstrap does with its stdin: base64 (white space skipped) of the script's UTF-8. */
  private void bootstrapRead(ShellProcess process, byte[] stdin) {
    String text = new String(stdin, StandardCharsets.ISO_8859_1).replaceAll("\\s", "");
    try {
      String script = new String(Base64.getDecoder().decode(text), StandardCharsets.UTF_8);
      scripts.add(script);
      process.script.complete(script);
    } catch (IllegalArgumentException e) {
      process.script.completeExceptionally(new IllegalArgumentException("Exception calling \"FromBase64String\" with \"1\""
          + " argument(s): \"The input is not a valid Base-64 string as it contains a non-base 64 character.\""));
    }
  }

  private Reply receive(Document request) {
    Shell shell = shell(request);
    Element desired = WsMan.find(request, WsMan.SHELL, "DesiredStream")
        .orElseThrow(() -> new Fault("w:InvalidParameter", "2150858882", "Receive names no DesiredStream"));
    String commandId = desired.getAttribute("CommandId");
    ShellProcess process = shell.commands().get(commandId);
    if (process == null) {
      throw new Fault("w:InvalidSelectors", "2150858843", "no command " + commandId + " in this shell");
    }
    Future<Output> running = process.output;
    Duration wait = timeout(request);
    Output output;
    try {
      output = running.get(wait.toMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      throw new Fault("w:TimedOut", "2150858793", "The WS-Management service cannot complete the operation within the"
          + " time specified in OperationTimeout.");
    } catch (Exception e) {
      output = new Output(1, "", "the command was stopped");
    }
    Document response = response(request, WsMan.ACTION_RECEIVE + "Response");
    Element receive = WsMan.append(WsMan.body(response), WsMan.SHELL, "rsp:ReceiveResponse");
    stream(receive, "stdout", commandId, output.stdout());
    stream(receive, "stderr", commandId, output.stderr());
    Element state = WsMan.append(receive, WsMan.SHELL, "rsp:CommandState");
    state.setAttribute("CommandId", commandId);
    state.setAttribute("State", WsMan.STATE_DONE);
    WsMan.append(state, WsMan.SHELL, "rsp:ExitCode").setTextContent(Integer.toString(output.exitCode()));
    return new Reply(200, response);
  }

  private static void stream(Element parent, String name, String commandId, String text) {
    Element stream = WsMan.append(parent, WsMan.SHELL, "rsp:Stream");
    stream.setAttribute("Name", name);
    stream.setAttribute("CommandId", commandId);
    stream.setTextContent(Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8)));
  }

  private Duration timeout(Document request) {
    Matcher m = ISO_SECONDS.matcher(WsMan.text(WsMan.header(request), WsMan.WSMAN, "OperationTimeout").orElse("PT60S"));
    Duration asked = m.matches() ? Duration.ofMillis((long) (Double.parseDouble(m.group(1)) * 1000)) : Duration.ofSeconds(60);
    return asked.compareTo(maxOperationTimeout) < 0 ? asked : maxOperationTimeout;
  }

  private Reply signal(Document request) {
    Shell shell = shell(request);
    String commandId = WsMan.find(request, WsMan.SHELL, "Signal").map(e -> e.getAttribute("CommandId")).orElse("");
    ShellProcess process = shell.commands().remove(commandId);
    if (process != null) {
      process.terminate();
    }
    Document response = response(request, WsMan.ACTION_SIGNAL + "Response");
    WsMan.append(WsMan.body(response), WsMan.SHELL, "rsp:SignalResponse");
    return new Reply(200, response);
  }

  private Reply delete(Document request) {
    Shell shell = shells.remove(shellId(request));
    if (shell == null) {
      throw new Fault("w:InvalidSelectors", "2150858843", "The request for the Windows Remote Shell failed because the"
          + " shell was not found on the server.");
    }
    shell.commands().values().forEach(ShellProcess::terminate);
    return new Reply(200, response(request, WsMan.ACTION_DELETE + "Response"));
  }

  private Shell shell(Document request) {
    Shell shell = shells.get(shellId(request));
    if (shell == null) {
      throw new Fault("w:InvalidSelectors", "2150858843", "The request for the Windows Remote Shell failed because the"
          + " shell was not found on the server.");
    }
    return shell;
  }

  /** A named option of the request's OptionSet, or "" (option names are case-insensitive). */
  private static String option(Document request, String name) {
    var options = WsMan.header(request).getElementsByTagNameNS(WsMan.WSMAN, "Option");
    for (int i = 0; i < options.getLength(); i++) {
      Element o = (Element) options.item(i);
      if (name.equalsIgnoreCase(o.getAttribute("Name"))) {
        return o.getTextContent().trim();
      }
    }
    return "";
  }

  /** The ShellId selector; WinRM matches selector names case-insensitively. */
  private static String shellId(Document request) {
    var selectors = request.getElementsByTagNameNS(WsMan.WSMAN, "Selector");
    for (int i = 0; i < selectors.getLength(); i++) {
      Element s = (Element) selectors.item(i);
      if ("shellid".equalsIgnoreCase(s.getAttribute("Name"))) {
        return s.getTextContent().trim();
      }
    }
    return "";
  }

  private Document response(Document request, String action) {
    Document response = WsMan.newDocument();
    Element envelope = response.createElementNS(WsMan.SOAP, "s:Envelope");
    response.appendChild(envelope);
    Element header = WsMan.append(envelope, WsMan.SOAP, "s:Header");
    WsMan.append(header, WsMan.ADDRESSING, "a:Action").setTextContent(action);
    WsMan.append(header, WsMan.ADDRESSING, "a:MessageID").setTextContent("uuid:" + UUID.randomUUID().toString().toUpperCase(Locale.ROOT));
    WsMan.append(header, WsMan.ADDRESSING, "a:To").setTextContent(WsMan.ANONYMOUS);
    WsMan.append(header, WsMan.ADDRESSING, "a:RelatesTo").setTextContent(WsMan.messageId(request));
    WsMan.append(envelope, WsMan.SOAP, "s:Body");
    return response;
  }

  private Document fault(Document request, Fault f) {
    Document response = response(request, "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault");
    Element fault = WsMan.append(WsMan.body(response), WsMan.SOAP, "s:Fault");
    Element code = WsMan.append(fault, WsMan.SOAP, "s:Code");
    WsMan.append(code, WsMan.SOAP, "s:Value").setTextContent("s:Receiver");
    WsMan.append(WsMan.append(code, WsMan.SOAP, "s:Subcode"), WsMan.SOAP, "s:Value").setTextContent(f.subcode);
    WsMan.append(WsMan.append(fault, WsMan.SOAP, "s:Reason"), WsMan.SOAP, "s:Text").setTextContent(f.getMessage());
    Element detail = WsMan.append(WsMan.append(fault, WsMan.SOAP, "s:Detail"), WsMan.FAULT, "f:WSManFault");
    detail.setAttribute("Code", f.code);
    detail.setAttribute("Machine", host.computerName());
    WsMan.append(detail, WsMan.FAULT, "f:Message").setTextContent(f.getMessage());
    return response;
  }

  @Override
  public void close() {
    closed.countDown();
    server.stop(0);
    commands.shutdownNow();
    ((ExecutorService) server.getExecutor()).shutdownNow();
  }
}
