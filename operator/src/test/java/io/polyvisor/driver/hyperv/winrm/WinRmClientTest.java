package io.polyvisor.driver.hyperv.winrm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.polyvisor.driver.HostUnreachableException;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.testing.hyperv.SimulatedHyperVHost;
import io.polyvisor.testing.hyperv.TestCertificate;
import io.polyvisor.testing.hyperv.WinRmSimulator;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

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
}
