package io.polyvisor.driver.hyperv.winrm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.polyvisor.driver.HypervisorException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The keys of a HypervisorClass's WinRM credentials Secret (what WinRmSecrets hands over). */
class WinRmCredentialsSecretTest {

  static final byte[] KEYTAB = {0x05, 0x02, 0, 0, 0, 0x3c, 1, 2, (byte) 0xff, (byte) 0xfe};
  static final String SECRET = "polyvisor-system/winrm";

  @Test
  void usernameAndPasswordAreBasicAsBefore() {
    WinRmCredentials c = parse(Map.of("username", text("HV\\polyvisor"), "password", text("pw"), "ca.crt", text("PEM")));

    assertThat(c.authentication()).isEqualTo(WinRmCredentials.Authentication.BASIC);
    assertThat(c).isEqualTo(new WinRmCredentials("HV\\polyvisor", "pw", Optional.of("PEM")));
    assertThat(parse(Map.of("authentication", text("basic"), "username", text("u"), "password", text("p"))).authentication())
        .isEqualTo(WinRmCredentials.Authentication.BASIC);
  }

  @Test
  void kerberosTakesAPrincipalWithAPasswordOrAKeytab() {
    WinRmCredentials password = parse(Map.of("authentication", text("Kerberos"), "username", text("polyvisor@HV.EXAMPLE.COM"),
        "password", text("pw")));
    assertThat(password.authentication()).isEqualTo(WinRmCredentials.Authentication.KERBEROS);
    assertThat(password.username()).isEqualTo("polyvisor@HV.EXAMPLE.COM");
    assertThat(password.keytab()).isEmpty();

    WinRmCredentials keytab = parse(Map.of("authentication", text("Kerberos"), "username", text("polyvisor@HV.EXAMPLE.COM"),
        "keytab", KEYTAB, "ca.crt", text("PEM")));
    assertThat(keytab.keytab()).hasValue(KEYTAB);
    assertThat(keytab.password()).isNull();
    assertThat(keytab.caCertificatePem()).hasValue("PEM");
  }

  @Test
  void aKeytabStoredAsBase64TextIsTakenToo() {
    WinRmCredentials keytab = parse(Map.of("authentication", text("Kerberos"), "username", text("polyvisor@HV.EXAMPLE.COM"),
        "keytab", text(Base64.getMimeEncoder().encodeToString(KEYTAB) + "\n")));

    assertThat(keytab.keytab()).hasValue(KEYTAB);
  }

  @Test
  void badCombinationsNameTheKeyAndTheFix() {
    assertRefused(Map.of("authentication", text("Kerberos"), "username", text("HV\\polyvisor"), "password", text("pw")),
        "username must be a principal user@REALM");
    assertRefused(Map.of("authentication", text("Kerberos"), "username", text("polyvisor@HV"), "password", text("pw"),
        "keytab", KEYTAB), "has both password and keytab for Kerberos; remove one");
    assertRefused(Map.of("authentication", text("Kerberos"), "username", text("polyvisor@HV")),
        "has neither password nor keytab");
    assertRefused(Map.of("username", text("polyvisor"), "keytab", KEYTAB), "has a key keytab but authentication is Basic");
    assertRefused(Map.of("authentication", text("NTLM"), "username", text("u"), "password", text("p")),
        "has authentication 'NTLM'; the key authentication must be Basic or Kerberos");
    assertRefused(Map.of("username", text("u")), "has no key password");
    assertRefused(Map.of("password", text("p")), "has no key username");
    assertRefused(Map.of("authentication", text("Kerberos"), "username", text("polyvisor@HV"), "keytab", text("not a keytab")),
        "the key keytab is not a keytab file");
  }

  private static void assertRefused(Map<String, byte[]> keys, String message) {
    assertThatThrownBy(() -> parse(keys)).isInstanceOf(HypervisorException.class)
        .hasMessageContaining("Secret " + SECRET).hasMessageContaining(message);
  }

  private static WinRmCredentials parse(Map<String, byte[]> keys) {
    Map<String, byte[]> data = new HashMap<>(keys);
    return WinRmCredentials.fromSecret(SECRET, k -> Optional.ofNullable(data.get(k)));
  }

  private static byte[] text(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
