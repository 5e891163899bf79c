package io.polyvisor.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.crd.generator.annotation.PrinterColumn;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.List;
import java.util.Map;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class HypervisorClassSpec {

  @Required
  @PrinterColumn(name = "Driver")
  @ValidationRule(
      value = "self == oldSelf",
      message = "spec.driver is immutable; create a new HypervisorClass for another driver")
  @JsonPropertyDescription(
      "Which management API the class's nodes speak: libvirt (KVM) or hyperv (Hyper-V over"
          + " WinRM). Immutable.")
  public Driver driver;

  @Required
  @Size(min = 1)
  @JsonPropertyDescription(
      "Labels a Node must carry to host VMs of this class. At least one label, so that a class"
          + " never selects every node by accident.")
  public Map<String, String> nodeSelector;

  @Required
  @JsonPropertyDescription("How the operator reaches each node's hypervisor management API.")
  public Connection connection;

  @Min(100)
  @Max(1000)
  @Default("100")
  @JsonPropertyDescription(
      "How much VM memory a node may hold, as a percentage of its allocatable memory: 100 means"
          + " no overcommit, 150 lets VMs claim 1.5 times the node's memory (KVM relies on the"
          + " Linux host to page; Hyper-V on Dynamic Memory). 100 to 1000, default 100.")
  public Integer memoryOvercommitPercent;

  @Min(1)
  @Max(64)
  @Default("8")
  @JsonPropertyDescription(
      "How many virtual CPUs a node may hold per CPU it offers (its allocatable cpu): 1 means one"
          + " vCPU per host CPU, 8 (default) lets guests that mostly idle share a CPU eight ways."
          + " A VM whose cores fit on no node stays Pending with the numbers. 1 to 64.")
  public Integer cpuOvercommitRatio;

  @Default("host-model")
  @Pattern("^(host-model|host-passthrough|[A-Za-z0-9][A-Za-z0-9._-]{0,63})$")
  @JsonPropertyDescription(
      "The CPU that KVM guests of this class see: host-model (default: the host's CPU as a named"
          + " model with its features, which live-migrates to hosts of the same or a newer CPU),"
          + " host-passthrough (the host's CPU exactly: fastest, live-migrates only between identical"
          + " hosts; needs KVM), or the name of a QEMU CPU model (Skylake-Client-IBRS, EPYC, ...)"
          + " that every node must be able to run. A change applies at each guest's next boot."
          + " Hyper-V gives its guests the host's CPU and ignores it.")
  public String cpuModel;

  @Size(max = 16)
  @ValidationRule(
      value = "self.all(f, self.exists_one(g, g.name == f.name))",
      message = "spec.cpuFeatures names a feature twice; give each feature once, with one policy")
  @JsonPropertyDescription(
      "CPU features added to or taken from the cpuModel of KVM guests, e.g. [{name: arch-capabilities,"
          + " policy: disable}] where nested KVM refuses a feature host-model announces, or a feature every"
          + " node has that a named model lacks. Applied where a guest runs under KVM; a change applies at"
          + " each guest's next boot. Hyper-V ignores it.")
  public List<CpuFeature> cpuFeatures;

  @Default("MicrosoftUEFICertificateAuthority")
  @JsonPropertyDescription(
      "Secure Boot of the class's Hyper-V VMs when a VM does not say: MicrosoftUEFICertificateAuthority"
          + " (default: the template that boots Linux distributions; Hyper-V's own default,"
          + " MicrosoftWindows, refuses them), MicrosoftWindows (Windows guests), OpenSourceShieldedVM"
          + " or Off. A change applies at each guest's next boot. KVM ignores it.")
  public SecureBoot secureBoot;

  @Default("{}")
  @JsonPropertyDescription("How live migrations between this class's nodes are run and bounded.")
  public MigrationPolicy migration;

  @JsonPropertyDescription(
      "Opt-in: live-migrate VMs off a node whose memory (or vCPU) pressure passes a threshold, until it is under a"
          + " watermark. Unset: nodes are never rebalanced. Only VMs whose evictionStrategy is LiveMigrate or"
          + " LiveMigrateOrShutdown are moved, never from or to a cordoned node.")
  public RebalancingPolicy rebalancing;

  @Default("LiveMigrate")
  @JsonPropertyDescription(
      "What happens to a VM on a cordoned node when the VM does not say: LiveMigrate (default),"
          + " LiveMigrateOrShutdown, Shutdown or None.")
  public EvictionStrategy defaultEvictionStrategy;
}
