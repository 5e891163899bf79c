package io.polyvisor.driver.hyperv.winrm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.polyvisor.driver.HypervisorException;
import io.polyvisor.testing.hyperv.SimulatedHyperVHost;
import io.polyvisor.testing.hyperv.TestCertificate;
import io.polyvisor.testing.hyperv.TestKdc;
import io.polyvisor.testing.hyperv.WinRmSimulator;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The WinRM client's Kerberos logon against a real MIT KDC ({@link TestKdc}, started by the test)
 * and a simulated host whose listener checks the ticket with the JDK's GSS acceptor and the
 * service's keytab. Sets the JVM-global {@code java.security.krb5.conf} (through {@link
 * TestKdc#shared()}).
 */
class KerberosWinRmClientTest {

  static final TestCertificate certificate = TestCertificate.shared();
  static final String SCRIPT = "Get-VMHost | Select-Object ComputerName | ConvertTo-Json -Compress";

  TestKdc kdc;
  WinRmSimulator simulator;

  @BeforeEach
  void start() throws Exception {
    kdc = TestKdc.shared();
    SimulatedHyperVHost host = new SimulatedHyperVHost("HV1", 64L << 30, 16);
    simulator = new WinRmSimulator(host, "admin", "s3cret", certificate.keyStore()).kerberos(kdc.serviceKeytab(), TestKdc.SERVICE);
  }

  @AfterEach
  void stop() {
    simulator.close();
  }

  @Test
  void aKerberosClientRunsAScriptWithARealTicketAndDelegatesItsCredentials() {
    WinRmClient client = new WinRmClient(simulator.endpoint(),
        WinRmCredentials.kerberosPassword(TestKdc.USER, TestKdc.USER_PASSWORD, Optional.of(certificate.pem())));

    PowerShellResult result = client.run(SCRIPT, Duration.ofSeconds(30));

    assertThat(result.stdout().strip()).isEqualTo("{\"ComputerName\":\"HV1\"}");
    assertThat(simulator.authenticationFailures()).isEmpty();
    assertThat(simulator.callers()).as("every request of the script carried a ticket of its own").hasSizeGreaterThanOrEqualTo(5)
        .allSatisfy(c -> assertThat(c.principal()).isEqualTo(TestKdc.USER));
    assertThat(simulator.shellCreators()).as("the shell's session holds the delegated TGT")
        .containsExactly(new WinRmSimulator.Caller(TestKdc.USER, "Negotiate", true));
  }

  @Test
  void aKeytabLogsOnAsWell() {
    WinRmClient client = new WinRmClient(simulator.endpoint(),
        WinRmCredentials.kerberosKeytab(TestKdc.USER, kdc.userKeytab(), Optional.of(certificate.pem())));

    assertThat(client.run(SCRIPT, Duration.ofSeconds(30)).stdout()).contains("HV1");
    assertThat(simulator.callers()).isNotEmpty().allSatisfy(c -> assertThat(c.principal()).isEqualTo(TestKdc.USER));
  }

  @Test
  void aTicketTheHostNoLongerTakesMeansALogonAgainAndOneResend(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    java.nio.file.Path keytab = dir.resolve("host.keytab");
    java.nio.file.Files.copy(kdc.serviceKeytab(), keytab);
    simulator.close();
    simulator = new WinRmSimulator(new SimulatedHyperVHost("HV1", 64L << 30, 16), "admin", "s3cret", certificate.keyStore())
        .kerberos(keytab, TestKdc.SERVICE);
    WinRmClient client = new WinRmClient(simulator.endpoint(),
        WinRmCredentials.kerberosPassword(TestKdc.USER, TestKdc.USER_PASSWORD, Optional.of(certificate.pem())));
    client.run(SCRIPT, Duration.ofSeconds(30));

    kdc.rotateServiceKey(keytab); // the client's cached service ticket is for the old key now

    assertThat(client.run(SCRIPT, Duration.ofSeconds(30)).stdout()).contains("HV1");
    assertThat(simulator.authenticationFailures()).as("the old ticket was refused once, then a new one taken").hasSize(1);
  }

  @Test
  void aKerberosOnlyHostRefusesBasic() {
    WinRmClient basic = new WinRmClient(simulator.endpoint(), new WinRmCredentials("admin", "s3cret", Optional.of(certificate.pem())));

    assertThatThrownBy(() -> basic.run(SCRIPT, Duration.ofSeconds(30)))
        .isInstanceOfSatisfying(HypervisorException.class, e -> assertThat(e.code()).isEqualTo("AUTH_FAILED"))
        .hasMessageContaining("HTTP 401");
    assertThat(simulator.scripts()).isEmpty();
  }

  @Test
  void aWrongPasswordIsRefusedByTheKdcNamingThePrincipalAndTheSecretKey() {
    WinRmClient wrong = new WinRmClient(simulator.endpoint(),
        WinRmCredentials.kerberosPassword(TestKdc.USER, "not-the-password", Optional.of(certificate.pem())));

    assertThatThrownBy(() -> wrong.run(SCRIPT, Duration.ofSeconds(30)))
        .isInstanceOfSatisfying(HypervisorException.class, e -> assertThat(e.code()).isEqualTo("AUTH_FAILED"))
        .hasMessageContaining("Kerberos logon of " + TestKdc.USER)
        .hasMessageContaining("password in the HypervisorClass's credentials Secret")
        .message().doesNotContain("not-the-password");
    assertThat(simulator.callers()).as("nothing reached the host").isEmpty();
  }

  @Test
  void aTokenNotFromTheKdcIsRefused() throws Exception {
    HttpClient http = HttpClient.newBuilder().sslContext(trusting()).build();
    // A well-formed SPNEGO NegTokenInit header with no valid ticket inside.
    HttpResponse<String> response = http.send(HttpRequest.newBuilder(simulator.endpoint())
        .header("Authorization", "Negotiate YIGCBgYrBgEFBQKgeDB2oA0wCwYJKoZIhvcSAQICom" + "A".repeat(40))
        .POST(HttpRequest.BodyPublishers.ofString("<x/>")).build(), HttpResponse.BodyHandlers.ofString());

    assertThat(response.statusCode()).isEqualTo(401);
    assertThat(response.headers().allValues("WWW-Authenticate")).containsExactly("Negotiate");
    assertThat(simulator.authenticationFailures()).hasSize(1);
  }

  @Test
  void anEndpointWhoseServicePrincipalTheKdcDoesNotKnowIsNamed() {
    URI byName = URI.create(simulator.endpoint().toString().replace("127.0.0.1", "localhost"));
    WinRmClient client = new WinRmClient(byName,
        WinRmCredentials.kerberosPassword(TestKdc.USER, TestKdc.USER_PASSWORD, Optional.of(certificate.pem())));

    assertThatThrownBy(() -> client.run(SCRIPT, Duration.ofSeconds(30)))
        .isInstanceOfSatisfying(HypervisorException.class, e -> assertThat(e.code()).isEqualTo("AUTH_FAILED"))
        .hasMessageContaining("HTTP/localhost");
  }

  @Test
  void kerberosIsRefusedOverPlainHttp() {
    assertThatThrownBy(() -> new WinRmClient(URI.create("http://127.0.0.1:5985/wsman"),
        WinRmCredentials.kerberosPassword(TestKdc.USER, TestKdc.USER_PASSWORD, Optional.empty())))
        .isInstanceOfSatisfying(HypervisorException.class, e -> assertThat(e.code()).isEqualTo("INSECURE_ENDPOINT"));
  }

  @Test
  void theCredentialsNeverShowTheirSecrets() {
    assertThat(WinRmCredentials.kerberosPassword(TestKdc.USER, "pw-123", Optional.empty()).toString())
        .contains(TestKdc.USER).contains("Kerberos").doesNotContain("pw-123");
    assertThat(WinRmCredentials.kerberosKeytab(TestKdc.USER, new byte[] {5, 2, 'k', 'e', 'y'}, Optional.empty()).toString())
        .isEqualTo("WinRmCredentials[" + TestKdc.USER + ", Kerberos with keytab]");
  }

  private static javax.net.ssl.SSLContext trusting() throws Exception {
    java.security.KeyStore trust = java.security.KeyStore.getInstance(java.security.KeyStore.getDefaultType());
    trust.load(null, null);
    trust.setCertificateEntry("ca", java.security.cert.CertificateFactory.getInstance("X.509")
        .generateCertificate(new java.io.ByteArrayInputStream(certificate.pem().getBytes())));
    javax.net.ssl.TrustManagerFactory tmf = javax.net.ssl.TrustManagerFactory.getInstance(
        javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    javax.net.ssl.SSLContext context = javax.net.ssl.SSLContext.getInstance("TLS");
    context.init(null, tmf.getTrustManagers(), null);
    return context;
  }
}
