package io.polyvisor.vm;

import static org.assertj.core.api.Assertions.assertThat;

import io.polyvisor.api.v1alpha1.Driver;
import io.polyvisor.api.v1alpha1.HypervisorClassSpec;
import io.polyvisor.api.v1alpha1.SecureBoot;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.driver.GuestSpec;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** What of a VM and its class reaches the guest on each hypervisor, and what its revision covers. */
class GuestSpecsTest {

  @Test
  void secureBootIsTheVmsThenTheClassesThenTheTemplateThatBootsLinuxAndKvmIgnoresIt() {
    HypervisorClassSpec hyperV = new HypervisorClassSpec();
    hyperV.driver = Driver.HYPERV;
    VirtualMachine vm = Fixtures.vm("web", "512Mi");

    assertThat(GuestSpecs.Hypervisor.of(hyperV, vm).secureBoot()).isEqualTo(SecureBoot.MicrosoftUEFICertificateAuthority);
    hyperV.secureBoot = SecureBoot.MicrosoftWindows;
    assertThat(GuestSpecs.Hypervisor.of(hyperV, vm).secureBoot()).isEqualTo(SecureBoot.MicrosoftWindows);
    vm.getSpec().secureBoot = SecureBoot.Off;
    assertThat(GuestSpecs.Hypervisor.of(hyperV, vm).secureBoot()).isEqualTo(SecureBoot.Off);

    HypervisorClassSpec kvm = new HypervisorClassSpec();
    kvm.driver = Driver.LIBVIRT;
    assertThat(GuestSpecs.Hypervisor.of(kvm, vm)).isEqualTo(GuestSpecs.Hypervisor.KVM);
  }

  @Test
  void aDynamicMaximumNeedsARestartOnKvmButNotWhereTheHostChangesItLive() {
    VirtualMachine small = Fixtures.dynamicVm("web", "256Mi", "512Mi", "1Gi");
    VirtualMachine wider = Fixtures.dynamicVm("web", "256Mi", "512Mi", "2Gi");
    GuestSpecs.Hypervisor hyperV = new GuestSpecs.Hypervisor(GuestSpec.HOST_MODEL, List.of(), GuestSpec.DEFAULT_SECURE_BOOT, true);

    assertThat(revision(small, GuestSpecs.Hypervisor.KVM)).isNotEqualTo(revision(wider, GuestSpecs.Hypervisor.KVM));
    assertThat(revision(small, hyperV)).isEqualTo(revision(wider, hyperV));
    assertThat(revision(small, new GuestSpecs.Hypervisor(GuestSpec.HOST_MODEL, List.of(), SecureBoot.Off, true)))
        .as("Secure Boot is changed only while the guest is off").isNotEqualTo(revision(small, hyperV));
  }

  private static String revision(VirtualMachine vm, GuestSpecs.Hypervisor hypervisor) {
    return GuestSpecs.build(vm, hypervisor, List.of(), Map.of(), Optional.empty()).revision();
  }
}
