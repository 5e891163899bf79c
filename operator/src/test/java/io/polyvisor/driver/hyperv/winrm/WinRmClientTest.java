package io.polyvisor.driver.hyperv.winrm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.polyvisor.driver.HostUnreachableException;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.testing.hyperv.SimulatedHyperVHost;
import io.polyvisor.testing.hyperv.TestCertificate;
import io.polyvisor.testing.hyperv.WinRmSimulator;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

/** The WinRM client against the simulated host's HTTPS listener. */
class WinRmClientTest {

  static final TestCertificate certificate = TestCertificate.shared();

  SimulatedHyperVHost host;
  WinRmSimulator simulator;
  WinRmClient client;

  @BeforeEach
  void start() throws Exception {
    host = new SimulatedHyperVHost("HV1", 64L << 30, 16).folder("C:\\VMs");
    simulator = new WinRmSimulator(host, "admin", "s3cret", certificate.keyStore());
    client = new WinRmClient(simulator.endpoint(), new WinRmCredentials("admin", "s3cret", Optional.of(certificate.pem())));
  }

  @AfterEach
  void stop() {
    simulator.close();
  }

  @Test
  void aScriptsOutputComesBackAndProgressRecordsAreNotErrors() {
    PowerShellResult result = client.run("Get-VMHost | Select-Object ComputerName,LogicalProcessorCount | ConvertTo-Json -Compress",
        Duration.ofSeconds(30));

    assertThat(result.stdout().strip()).isEqualTo("{\"ComputerName\":\"HV1\",\"LogicalProcessorCount\":16}");
    assertThat(result.stderr()).as("the host printed a progress record").contains("progress");
    assertThat(result.errors()).isEmpty();
    assertThat(result.succeeded()).isTrue();
  }

  @Test
  void theScriptTravelsEncodedAndTheShellIsDeletedAfterwards() {
    client.run("Get-VMHost | Select-Object ComputerName | ConvertTo-Json -Compress", Duration.ofSeconds(30));

    assertThat(simulator.scripts()).containsExactly("Get-VMHost | Select-Object ComputerName | ConvertTo-Json -Compress");
    assertThat(simulator.rawRequests()).noneMatch(r -> r.contains("Get-VMHost"));
    assertThat(simulator.rawRequests()).last().asString().contains("transfer/Delete");
  }

  @Test
  void errorsArriveAsClixmlAndAreDecodedWithTheExitCode() {
    PowerShellResult result = client.run("Get-VM -Name 'nobody'", Duration.ofSeconds(30));

    assertThat(result.exitCode()).isEqualTo(1);
    assertThat(result.succeeded()).isFalse();
    assertThat(result.errors()).isEqualTo("Get-VM : Hyper-V was unable to find a virtual machine with name \"nobody\".");
  }

  @Test
  void aCommandThatOutlastsTheOperationTimeoutIsReceivedAgainUntilDone() {
    simulator.maxOperationTimeout(Duration.ofMillis(50));
    client.run("$vm = New-VM -Name 'slow' -Generation 2 -MemoryStartupBytes 536870912 -NoVHD", Duration.ofSeconds(30));
    client.run("$vm = Get-VM -Name 'slow'\nStart-VM -VM $vm", Duration.ofSeconds(30));

    // A guest shutdown takes 300 ms in the simulator: several Receives answer TimedOut first.
    PowerShellResult result = client.run("$vm = Get-VM -Name 'slow'\nStop-VM -VM $vm -Force", Duration.ofSeconds(30));

    assertThat(result.succeeded()).isTrue();
    assertThat(host.stateOf("slow")).contains("Off");
    assertThat(simulator.rawRequests().stream().filter(r -> r.contains("shell/Receive")).count()).isGreaterThan(2);
  }

  @Test
  void aScriptPastItsDeadlineIsTerminatedAndReportedAsTimedOut() {
    client.run("$vm = New-VM -Name 'hung' -Generation 2 -MemoryStartupBytes 536870912 -NoVHD\nStart-VM -VM $vm", Duration.ofSeconds(30));
    host.ignoreShutdown("hung");
    Instant started = Instant.now();

    assertThatThrownBy(() -> client.run("$vm = Get-VM -Name 'hung'\nStop-VM -VM $vm -Force", Duration.ofSeconds(2)))
        .isInstanceOfSatisfying(HypervisorException.class, e -> assertThat(e.code()).isEqualTo("TIMED_OUT"));

    assertThat(Duration.between(started, Instant.now())).isLessThan(Duration.ofSeconds(10));
    assertThat(simulator.rawRequests()).anyMatch(r -> r.contains("signal/terminate"));
    assertThat(host.stateOf("hung")).contains("Running");
  }

  @Test
  void aHostThatFreezesMidAnswerIsReportedHungOnceTheOperationTimeoutAndTheCallTimeoutArePast() {
    WinRmClient impatient = new WinRmClient(simulator.endpoint(), new WinRmCredentials("admin", "s3cret",
        Optional.of(certificate.pem())), Duration.ofSeconds(1));
    simulator.stallReceives();
    Instant started = Instant.now();

    // The script's deadline (1 s) caps the Receive's OperationTimeout: the request may take 1 s more.
    assertThatThrownBy(() -> impatient.run("Get-VMHost | Select-Object ComputerName | ConvertTo-Json -Compress",
        Duration.ofSeconds(1)))
        .isInstanceOfSatisfying(HostUnreachableException.class, e -> assertThat(e.code()).isEqualTo("HOST_HUNG"))
        .hasMessage("WinRM at " + simulator.endpoint() + " has not answered a Receive request for 2 s");

    assertThat(Duration.between(started, Instant.now())).isLessThan(Duration.ofSeconds(10));
  }

  @Test
  void aWrongPasswordIsReportedAsSuch() {
    WinRmClient wrong = new WinRmClient(simulator.endpoint(), new WinRmCredentials("admin", "nope", Optional.of(certificate.pem())));

    assertThatThrownBy(() -> wrong.run("Get-VMHost", Duration.ofSeconds(30)))
        .isInstanceOfSatisfying(HypervisorException.class, e -> assertThat(e.code()).isEqualTo("AUTH_FAILED"))
        .hasMessageContaining("refused the credentials (HTTP 401)")
        .hasMessageContaining("credentials Secret");
  }

  @Test
  void aHostWhoseCertificateIsNotTrustedIsNotTalkedTo() {
    WinRmClient untrusting = new WinRmClient(simulator.endpoint(), new WinRmCredentials("admin", "s3cret", Optional.empty()));

    assertThatThrownBy(() -> untrusting.run("Get-VMHost", Duration.ofSeconds(30)))
        .isInstanceOf(HostUnreachableException.class)
        .hasMessageContaining(simulator.endpoint().toString());
    assertThat(simulator.scripts()).isEmpty();
  }

  @Test
  void plainHttpIsRefusedBeforeAPasswordIsSent() {
    assertThatThrownBy(() -> new WinRmClient(URI.create("http://127.0.0.1:5985/wsman"),
        new WinRmCredentials("admin", "s3cret", Optional.empty())))
        .isInstanceOfSatisfying(HypervisorException.class, e -> assertThat(e.code()).isEqualTo("INSECURE_ENDPOINT"))
        .hasMessageContaining("https://<host>:5986/wsman");
  }

  @Test
  void aHostThatIsNotListeningIsUnreachable() {
    URI endpoint = simulator.endpoint();
    simulator.close();

    assertThatThrownBy(() -> client.run("Get-VMHost", Duration.ofSeconds(30)))
        .isInstanceOf(HostUnreachableException.class)
        .hasMessageContaining("cannot reach WinRM at " + endpoint);
  }

  @Test
  void aScriptTooLongForACommandLineTravelsOverStdinAndRuns() {
    // 6,000 characters of script: as -EncodedCommand that is 16,000 characters, past cmd.exe's 8,191.
    String note = "n".repeat(6000);
    PowerShellResult result = client.run("'" + note + "'", Duration.ofSeconds(30));

    assertThat(result.stderr()).doesNotContain("The command line is too long.");
    assertThat(result.stdout().strip()).isEqualTo(note);
    assertThat(result.succeeded()).isTrue();
    assertThat(simulator.scriptsRun()).containsExactly("'" + note + "'");
    String commandRequest = simulator.rawRequests().stream().filter(r -> r.contains("shell/Command<")).findFirst().orElseThrow();
    assertThat(commandRequest.length()).as("the bootstrap's Command stays short").isLessThan(2000);
  }

  @Test
  void aLargeScriptIsSentInChunksThatEachFitTheEnvelopeAndOnlyTheLastEndsStdin() {
    String note = "m".repeat(150_000); // 200,000 bytes of base64: four Sends
    PowerShellResult result = client.run("'" + note + "'", Duration.ofSeconds(30));

    assertThat(result.stdout().strip()).isEqualTo(note);
    List<String> sends = simulator.rawRequests().stream().filter(r -> r.contains("shell/Send<")).toList();
    assertThat(sends).hasSize(4);
    assertThat(sends).allSatisfy(r -> assertThat(r.getBytes(StandardCharsets.UTF_8).length).isLessThan(153_600));
    assertThat(sends.subList(0, 3)).noneMatch(r -> r.contains("End=\"true\""));
    assertThat(sends.get(3)).contains("End=\"true\"");
  }

  @Test
  void anEncodedCommandLongerThanCmdExeAcceptsIsRefusedByCmdExe() {
    String script = "'" + "x".repeat(4000) + "'"; // 10,700 characters of command line
    String shellId = createShell(true);
    String commandId = command(shellId, "-NoProfile -NonInteractive -EncodedCommand " + WinRmClient.encode(script), false);

    PowerShellResult result = client.receive(shellId, commandId, Instant.now().plusSeconds(30));

    assertThat(result.exitCode()).isEqualTo(1);
    assertThat(result.stderr()).as("cmd.exe's words, not CLIXML").isEqualTo("The command line is too long.\r\n");
    assertThat(result.stdout()).isEmpty();
    assertThat(simulator.scriptsRun()).isEmpty();

    // Without cmd.exe, CreateProcess's 32,767 characters are the limit.
    String direct = command(shellId, "-NoProfile -NonInteractive -EncodedCommand " + WinRmClient.encode(script), true);
    assertThat(client.receive(shellId, direct, Instant.now().plusSeconds(30)).stdout().strip()).isEqualTo(script.replace("'", ""));
  }

  @Test
  void sendIsRefusedForAStreamTheShellDidNotDeclareForAnUnknownCommandAndAfterTheEnd() {
    String withStdin = createShell(true);
    String commandId = command(withStdin, bootstrapArguments(), false);

    assertThatThrownBy(() -> send(withStdin, "stdout", commandId, false))
        .isInstanceOfSatisfying(WsManFault.class, f -> assertThat(f.faultCode()).isEqualTo("2150859147"));
    assertThatThrownBy(() -> send(withStdin, "stdin", "NO-SUCH-COMMAND", false))
        .isInstanceOfSatisfying(WsManFault.class, f -> assertThat(f.faultCode()).isEqualTo("2150858843"));
    assertThat(WsMan.find(send(withStdin, "stdin", commandId, true), WsMan.SHELL, "SendResponse")).isPresent();
    assertThatThrownBy(() -> send(withStdin, "stdin", commandId, true))
        .as("stdin has ended").isInstanceOf(WsManFault.class);

    String withoutStdin = createShell(false);
    String other = command(withoutStdin, bootstrapArguments(), false);
    assertThatThrownBy(() -> send(withoutStdin, "stdin", other, true))
        .isInstanceOfSatisfying(WsManFault.class, f -> assertThat(f.faultCode()).isEqualTo("2150859147"));
  }

  @Test
  void aCommandTerminatedOrDeletedBeforeItsProcessStartedNeverRuns() {
    simulator.processStartup(Duration.ofSeconds(1));
    String script = "$vm = New-VM -Name 'never' -Generation 2 -MemoryStartupBytes 536870912 -NoVHD";
    String arguments = "-NoProfile -NonInteractive -EncodedCommand " + WinRmClient.encode(script);
    String signalledShell = createShell(true);
    String signalled = command(signalledShell, arguments, false);
    client.send(shellRequest(WsMan.ACTION_SIGNAL, signalledShell, body -> {
      Element signal = WsMan.append(body, WsMan.SHELL, "rsp:Signal");
      signal.setAttribute("CommandId", signalled);
      WsMan.append(signal, WsMan.SHELL, "rsp:Code").setTextContent(WsMan.SIGNAL_TERMINATE);
    }));
    String deletedShell = createShell(true);
    command(deletedShell, arguments, false);
    client.send(shellRequest(WsMan.ACTION_DELETE, deletedShell, body -> {}));

    // A command started after both, and left alone, runs once its process has started: by then
    // the startup of the two others is over too.
    String control = "Get-VMHost | Select-Object ComputerName | ConvertTo-Json -Compress";
    String controlShell = createShell(true);
    String controlCommand = command(controlShell, "-NoProfile -NonInteractive -EncodedCommand " + WinRmClient.encode(control), false);
    assertThat(client.receive(controlShell, controlCommand, Instant.now().plusSeconds(30)).succeeded()).isTrue();

    assertThat(simulator.scripts()).as("received").containsExactly(script, script, control);
    assertThat(simulator.scriptsRun()).as("but only the control ran").containsExactly(control);
    assertThat(host.stateOf("never")).isEmpty();
  }

  @Test
  void anErrorInPowerShellsErrorViewIsItsMessageUnwrappedWithoutPositionOrCategory() {
    // The shape real hosts write: the message wrapped at the console width (the trailing space
    // kept), the position, the category lines (wrapped with an indent), a line of one space.
    String stderr = "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">"
        + error("Set-VMMemory : Setting maximum, minimum, and buffer settings requires Dynamic ")
        + error("Memory to be enabled.")
        + error("At line:4 char:1")
        + error("+ Set-VMMemory -VM $vm -DynamicMemoryEnabled $p.dynamic -MinimumBytes $p.minimu ...")
        + error("+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~")
        + error("    + CategoryInfo          : InvalidArgument: (:) [Set-VMMemory], VirtualizationExcep ")
        + error("   tion")
        + error("    + FullyQualifiedErrorId : InvalidParameter,Microsoft.HyperV.PowerShell.Commands.SetVMMemory")
        + error(" ")
        + error("Get-VM : Hyper-V was unable to find a virtual machine with ID \"0d3c\".")
        + error("At C:\\scripts\\x.ps1:2 char:7")
        + error("+ $vm = Get-VM -Id $p.id")
        + error("+       ~~~~~~~~~~~~~~~~")
        + error("    + CategoryInfo          : InvalidArgument: (0d3c:String) [Get-VM], VirtualizationException")
        + error("    + FullyQualifiedErrorId : InvalidParameter,Microsoft.HyperV.PowerShell.Commands.GetVM")
        + error(" ")
        + "</Objs>";

    assertThat(Clixml.errors(stderr)).isEqualTo("Set-VMMemory : Setting maximum, minimum, and buffer settings requires Dynamic"
        + " Memory to be enabled.\nGet-VM : Hyper-V was unable to find a virtual machine with ID \"0d3c\".");
  }

  private static String error(String line) {
    return "<S S=\"Error\">" + line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "_x000D__x000A_</S>";
  }

  @Test
  void clixmlEscapesAreDecoded() {
    String stderr = "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">"
        + "<S S=\"Error\">first line_x000D__x000A_</S><S S=\"Error\">second &lt;line&gt;_x000D__x000A_</S>"
        + "<S S=\"Warning\">not an error</S></Objs>";

    assertThat(Clixml.errors(stderr)).isEqualTo("first line\nsecond <line>");
    assertThat(Clixml.errors("plain text\n")).isEqualTo("plain text");
    String twoBlocksAndWords = "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">"
        + "<Obj S=\"progress\" RefId=\"0\"><TN RefId=\"0\"><T>x</T></TN></Obj></Objs>"
        + "<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\"><S S=\"Error\">boom_x000D__x000A_</S>"
        + "</Objs>Process is terminated due to StackOverflowException.";
    assertThat(Clixml.errors(twoBlocksAndWords)).isEqualTo("boom\nProcess is terminated due to StackOverflowException.");
  }

  // Single WS-Man steps, through the client's own transport, for what the client never sends.

  private Document shellRequest(String action, String shellId, Consumer<Element> body) {
    Document request = WsMan.request(simulator.endpoint().toString(), action, Optional.ofNullable(shellId), "PT20S");
    body.accept(WsMan.body(request));
    return request;
  }

  private String createShell(boolean declareStdin) {
    Document response = client.send(shellRequest(WsMan.ACTION_CREATE, null, body -> {
      Element shell = WsMan.append(body, WsMan.SHELL, "rsp:Shell");
      if (declareStdin) {
        WsMan.append(shell, WsMan.SHELL, "rsp:InputStreams").setTextContent("stdin");
      }
      WsMan.append(shell, WsMan.SHELL, "rsp:OutputStreams").setTextContent("stdout stderr");
    }));
    return WsMan.text(response, WsMan.SHELL, "ShellId").orElseThrow();
  }

  private String command(String shellId, String arguments, boolean skipCmdShell) {
    Document request = shellRequest(WsMan.ACTION_COMMAND, shellId, body -> {
      Element line = WsMan.append(body, WsMan.SHELL, "rsp:CommandLine");
      WsMan.append(line, WsMan.SHELL, "rsp:Command").setTextContent("powershell");
      WsMan.append(line, WsMan.SHELL, "rsp:Arguments").setTextContent(arguments);
    });
    if (skipCmdShell) {
      Element option = WsMan.append(WsMan.append(WsMan.header(request), WsMan.WSMAN, "w:OptionSet"), WsMan.WSMAN, "w:Option");
      option.setAttribute("Name", "WINRS_SKIP_CMD_SHELL");
      option.setTextContent("TRUE");
    }
    return WsMan.text(client.send(request), WsMan.SHELL, "CommandId").orElseThrow();
  }

  private static String bootstrapArguments() {
    return "-NoProfile -NonInteractive -EncodedCommand " + WinRmClient.encode(WinRmClient.BOOTSTRAP);
  }

  /** Sends "Get-VMHost" (as the bootstrap wants it) on the named stream. */
  private Document send(String shellId, String stream, String commandId, boolean end) {
    return client.send(shellRequest(WsMan.ACTION_SEND, shellId, body -> {
      Element s = WsMan.append(WsMan.append(body, WsMan.SHELL, "rsp:Send"), WsMan.SHELL, "rsp:Stream");
      s.setAttribute("Name", stream);
      s.setAttribute("CommandId", commandId);
      if (end) {
        s.setAttribute("End", "true");
      }
      byte[] payload = Base64.getEncoder().encode("Get-VMHost".getBytes(StandardCharsets.UTF_8));
      s.setTextContent(Base64.getEncoder().encodeToString(payload));
    }));
  }
}
