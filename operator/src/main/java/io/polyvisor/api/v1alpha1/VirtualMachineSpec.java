package io.polyvisor.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.List;
import java.util.Map;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class VirtualMachineSpec {

  @Required
  @Pattern(Names.DNS_SUBDOMAIN)
  @ValidationRule(
      value = "self == oldSelf",
      message =
          "spec.hypervisorClassName is immutable; to move the VM to another class, create a new"
              + " VirtualMachine")
  @JsonPropertyDescription("The HypervisorClass whose nodes run this VM. Immutable.")
  public String hypervisorClassName;

  @Default("Always")
  @JsonPropertyDescription(
      "Who decides whether the guest runs: Always (default) keeps it running, Halted keeps it"
          + " stopped, Manual starts it once and then leaves power to the user, RerunOnFailure"
          + " restarts it only after a crash.")
  public RunStrategy runStrategy;

  @Default("{}")
  @JsonPropertyDescription("Virtual CPUs.")
  public CpuSpec cpu;

  @Required
  @JsonPropertyDescription("Guest memory and how the hypervisor manages it.")
  public MemorySpec memory;

  @Size(max = 64)
  @ValidationRule(
      value = "self.all(d, self.exists_one(e, e.name == d.name))",
      message = "spec.disks[].name must be unique within the VM; rename the duplicate disk")
  @JsonPropertyDescription("Disks, each provisioned from a storage class. At most 64.")
  public List<DiskSpec> disks;

  @Size(max = 16)
  @ValidationRule(
      value = "self.all(n, self.exists_one(e, e.name == n.name))",
      message = "spec.networks[].name must be unique within the VM; rename the duplicate network")
  @JsonPropertyDescription("Network interfaces, in the order the guest sees them. At most 16.")
  public List<NetworkSpec> networks;

  @JsonPropertyDescription(
      "Labels a Node must carry, on top of the class's nodeSelector, to run this VM.")
  public Map<String, String> nodeSelector;

  @JsonPropertyDescription(
      "What happens when the VM's node is cordoned: LiveMigrate, LiveMigrateOrShutdown, Shutdown"
          + " or None. Unset means the HypervisorClass's defaultEvictionStrategy.")
  public EvictionStrategy evictionStrategy;

  @JsonPropertyDescription(
      "Hyper-V Generation 2 firmware: Off, or Secure Boot with the template the guest's loader is"
          + " signed for: MicrosoftUEFICertificateAuthority (Linux distributions), MicrosoftWindows"
          + " (Windows) or OpenSourceShieldedVM. Unset means the HypervisorClass's secureBoot. Applies"
          + " at the guest's next boot; KVM ignores it.")
  public SecureBoot secureBoot;
}
