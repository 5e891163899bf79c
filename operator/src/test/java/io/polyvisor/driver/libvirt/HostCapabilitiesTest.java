package io.polyvisor.driver.libvirt;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Read from the capabilities of a testbed node (libvirt 9.0, QEMU 7.2), as {@code virsh capabilities} printed them. */
class HostCapabilitiesTest {

  @Test
  void aHostWithKvmDefinesKvmGuestsOnTheVersionedMachineItsPcStandsFor() throws IOException {
    HostCapabilities host = HostCapabilities.parse(capabilities());

    assertThat(host.kvm()).isTrue();
    assertThat(host.domainType()).isEqualTo("kvm");
    assertThat(host.machine()).isEqualTo("pc-i440fx-7.2");
  }

  @Test
  void aHostWithoutKvmEmulates() throws IOException {
    HostCapabilities host = HostCapabilities.parse(capabilities().replace("<domain type='kvm'/>", ""));

    assertThat(host.kvm()).isFalse();
    assertThat(host.domainType()).isEqualTo("qemu");
    assertThat(host.machine()).isEqualTo("pc-i440fx-7.2");
  }

  @Test
  void kvmForAnotherArchitectureDoesNotCount() throws IOException {
    String i686Only = capabilities().replaceFirst("(?s)(<arch name='x86_64'>.*?)<domain type='kvm'/>", "$1");

    assertThat(HostCapabilities.parse(i686Only).kvm()).isFalse();
  }

  @Test
  void theCpuModelsAreTheUsableOnesAndTheOneHostModelStandsFor() throws IOException {
    // virsh domcapabilities --virttype qemu on a testbed node: TCG's host-model is EPYC, which
    // its custom list marks unusable as such.
    HostCapabilities host = HostCapabilities.fromDomainCapabilities(false, resource("domcapabilities-qemu.xml"));

    assertThat(host.cpuModels().usable()).contains("qemu64", "Westmere", "Nehalem")
        .doesNotContain("EPYC", "Westmere-IBRS", "Snowridge", "phenom").hasSize(18);
    assertThat(host.cpuModels().hostModel()).contains("EPYC");
    assertThat(host.machine()).startsWith("pc-i440fx-");
  }

  @Test
  void aHostWhoseHostModelIsNotSupportedOffersOnlyItsUsableModels() throws IOException {
    String noHostModel = resource("domcapabilities-qemu.xml").replace("<mode name='host-model' supported='yes'>",
        "<mode name='host-model' supported='no'>");

    assertThat(HostCapabilities.fromDomainCapabilities(false, noHostModel).cpuModels())
        .satisfies(m -> assertThat(m.usable()).hasSize(18)).satisfies(m -> assertThat(m.hostModel()).isEmpty());
  }

  private static String capabilities() throws IOException {
    return resource("capabilities-kvm.xml");
  }

  private static String resource(String name) throws IOException {
    try (InputStream in = HostCapabilitiesTest.class.getResourceAsStream("/libvirt/" + name)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
