package io.polyvisor.testing.hyperv;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.polyvisor.driver.hyperv.winrm.WsMan;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

/**
 * A Windows host's WinRM listener over HTTPS, running PowerShell against a {@link
 * SimulatedHyperVHost}: Basic authentication (401 otherwise), the five shell steps of MS-WSMV with
 * RelatesTo on every answer, Command and Arguments joined, {@code -EncodedCommand} decoded from
 * UTF-16LE, Receive answering the TimedOut fault while a command runs past the operation timeout,
 * Signal terminate stopping it, errors on stderr as CLIXML after a progress record (as real hosts
 * print even on success), and exit code 1 after an error.
 *
 * <p>This is the project's stand-in for a Windows host, which is not reachable from here. It is
 * written from HYPERV-NOTES (Microsoft's documentation and pywinrm's captured exchanges), not
 * captured from a host: agreement with it is necessary, not sufficient.
 */
public final class WinRmSimulator implements AutoCloseable {

  private static final Pattern ENCODED = Pattern.compile("(?i)^powershell(?:\\.exe)?\\b.*-(?:EncodedCommand|enc|e)\\s+([A-Za-z0-9+/=]+)\\s*$");
  private static final Pattern ISO_SECONDS = Pattern.compile("^PT(\\d+(?:\\.\\d+)?)S$");
  private static final String PROGRESS_RECORD = "<Obj S=\"progress\" RefId=\"0\"><TN RefId=\"0\"><T>System.Management.Automation.PSCustomObject</T>"
      + "<T>System.Object</T></TN><MS><I64 N=\"SourceId\">1</I64><PR N=\"Record\"><AV>Preparing modules for first use.</AV>"
      + "<AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>";

  private final SimulatedHyperVHost host;
  private final String authorization;
  private final HttpsServer server;
  private final ExecutorService commands = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "winrm-simulator-command");
    t.setDaemon(true);
    return t;
  });
  private final Map<String, Shell> shells = new ConcurrentHashMap<>();
  private final List<String> scripts = new CopyOnWriteArrayList<>();
  private final List<String> rawRequests = new CopyOnWriteArrayList<>();
  private volatile Duration maxOperationTimeout = Duration.ofSeconds(60);
  private volatile boolean stallReceives;
  private final CountDownLatch closed = new CountDownLatch(1);

  private record Shell(Map<String, Future<Output>> commands) {}

  private record Output(int exitCode, String stdout, String stderr) {}

  /**
   * @param tls a PKCS12 key store (password "changeit") whose certificate names 127.0.0.1, see {@link
   *     TestCertificate}
   */
  public WinRmSimulator(SimulatedHyperVHost host, String username, String password, Path tls) throws Exception {
    this.host = host;
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

  public URI endpoint() {
    return URI.create("https://127.0.0.1:" + server.getAddress().getPort() + "/wsman");
  }

  public SimulatedHyperVHost host() {
    return host;
  }

  /** Every script run so far, decoded. */
  public List<String> scripts() {
    return List.copyOf(scripts);
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
      if (!authorization.equals(exchange.getRequestHeaders().getFirst("Authorization"))) {
        exchange.getResponseHeaders().add("WWW-Authenticate", "Basic realm=\"WSMAN\"");
        exchange.sendResponseHeaders(401, -1);
        return;
      }
      rawRequests.add(new String(body, StandardCharsets.UTF_8));
      Document request = WsMan.parse(body);
      Reply reply;
      try {
        reply = answer(request);
      } catch (Fault f) {
        reply = new Reply(500, fault(request, f));
      }
      byte[] out = WsMan.serialize(reply.document());
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

  private Reply answer(Document request) {
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
    return switch (action) {
      case WsMan.ACTION_CREATE -> create(request);
      case WsMan.ACTION_COMMAND -> command(request);
      case WsMan.ACTION_RECEIVE -> receive(request);
      case WsMan.ACTION_SIGNAL -> signal(request);
      case WsMan.ACTION_DELETE -> delete(request);
      default -> throw new Fault("a:ActionNotSupported", "2150858891", "unknown action " + action);
    };
  }

  private Reply create(Document request) {
    String id = UUID.randomUUID().toString().toUpperCase(Locale.ROOT);
    shells.put(id, new Shell(new ConcurrentHashMap<>()));
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
    Matcher encoded = ENCODED.matcher(line);
    if (!encoded.matches()) {
      throw new Fault("w:InternalError", "2147942402", "the simulator runs powershell -EncodedCommand only, not: " + line);
    }
    String script = new String(Base64.getDecoder().decode(encoded.group(1)), StandardCharsets.UTF_16LE);
    scripts.add(script);
    String commandId = UUID.randomUUID().toString().toUpperCase(Locale.ROOT);
    shell.commands().put(commandId, commands.submit(() -> execute(script)));
    Document response = response(request, WsMan.ACTION_COMMAND + "Response");
    WsMan.append(WsMan.append(WsMan.body(response), WsMan.SHELL, "rsp:CommandResponse"), WsMan.SHELL, "rsp:CommandId")
        .setTextContent(commandId);
    return new Reply(200, response);
  }

  private Output execute(String script) {
    PowerShellSubset.Outcome outcome;
    try {
      outcome = PowerShellSubset.run(script, host);
    } catch (RuntimeException e) {
      outcome = new PowerShellSubset.Outcome("", List.of("simulator: " + e));
    }
    StringBuilder stderr = new StringBuilder("#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">");
    stderr.append(PROGRESS_RECORD);
    for (String error : outcome.errors()) {
      stderr.append("<S S=\"Error\">").append(clixmlEscape(error + "\r\n")).append("</S>");
    }
    stderr.append("</Objs>");
    return new Output(outcome.errors().isEmpty() ? 0 : 1, outcome.stdout(), stderr.toString());
  }

  /** XML-escapes the text and writes line breaks as CLIXML's _x000D__x000A_. */
  private static String clixmlEscape(String text) {
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace("\r", "_x000D_").replace("\n", "_x000A_");
  }

  private Reply receive(Document request) {
    Shell shell = shell(request);
    Element desired = WsMan.find(request, WsMan.SHELL, "DesiredStream")
        .orElseThrow(() -> new Fault("w:InvalidParameter", "2150858882", "Receive names no DesiredStream"));
    String commandId = desired.getAttribute("CommandId");
    Future<Output> running = shell.commands().get(commandId);
    if (running == null) {
      throw new Fault("w:InvalidSelectors", "2150858843", "no command " + commandId + " in this shell");
    }
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
    Future<Output> running = shell.commands().remove(commandId);
    if (running != null) {
      running.cancel(true);
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
    shell.commands().values().forEach(f -> f.cancel(true));
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
