package io.polyvisor.driver.libvirt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class LibvirtCredentialsTest {

  @Test
  void onlyQemuTlsEndpointsAreTls() {
    assertThat(LibvirtCredentials.isTls("qemu+tls://10.0.0.5/system")).isTrue();
    assertThat(LibvirtCredentials.isTls("qemu+tcp://10.0.0.5/system")).isFalse();
    assertThat(LibvirtCredentials.isTls("qemu:///system")).isFalse();
    assertThat(LibvirtCredentials.isTls("https://10.0.0.5:5986/wsman")).isFalse();
    assertThat(LibvirtCredentials.isTls("test:///default?x=qemu+tls://")).isFalse();
  }

  @Test
  void theClientFilesAreNamedInTheUriAndOtherParametersAreKept() {
    Path folder = Path.of("/tmp/pki/ns/secret");
    assertThat(LibvirtCredentials.connectUri("qemu+tls://h/system", Optional.of(folder)))
        .isEqualTo("qemu+tls://h/system?pkipath=/tmp/pki/ns/secret");
    assertThat(LibvirtCredentials.connectUri("qemu+tls://h/system?no_tty=1", Optional.of(folder)))
        .isEqualTo("qemu+tls://h/system?no_tty=1&pkipath=/tmp/pki/ns/secret");
    assertThat(LibvirtCredentials.connectUri("qemu+tls://h/system", Optional.empty())).isEqualTo("qemu+tls://h/system");
    // A folder's name is data, never more parameters.
    assertThat(LibvirtCredentials.connectUri("qemu+tls://h/system", Optional.of(Path.of("/tmp/a b&no_verify=1#x"))))
        .isEqualTo("qemu+tls://h/system?pkipath=/tmp/a%20b%26no_verify%3D1%23x");
    assertThatThrownBy(() -> LibvirtCredentials.connectUri("qemu+tls://h/system?pkipath=/etc", Optional.of(folder)))
        .hasMessageContaining("names a pkipath of its own");
  }

  @Test
  void aTlsMigrationAsksLibvirtForIt() {
    assertThat(LibvirtMigration.flags(new io.polyvisor.driver.MigrationOptions(false, 0, false, false, true)) & LibvirtMigration.TLS)
        .isEqualTo(LibvirtMigration.TLS);
    assertThat(LibvirtMigration.flags(new io.polyvisor.driver.MigrationOptions(false, 0, false, false, false)) & LibvirtMigration.TLS)
        .isZero();
  }
}
