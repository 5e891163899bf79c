package io.polyvisor.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.ValidationRule;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class VirtualMachineMigrationSpec {

  @Required
  @Pattern(Names.DNS_SUBDOMAIN)
  @ValidationRule(
      value = "self == oldSelf",
      message = "spec.vmName is immutable; create a new VirtualMachineMigration for another VM")
  @JsonPropertyDescription("The VirtualMachine to migrate, in this namespace. Immutable.")
  public String vmName;

  @Pattern(Names.DNS_SUBDOMAIN)
  @ValidationRule(
      value = "self == oldSelf",
      message =
          "spec.targetNode is immutable; create a new VirtualMachineMigration for another target")
  @JsonPropertyDescription(
      "The node to migrate to; it must serve the VM's hypervisor class, be Ready, not cordoned"
          + " and have room. Unset: the operator picks one. Immutable.")
  public String targetNode;

  @Default("Live")
  @ValidationRule(
      value = "self == oldSelf",
      message = "spec.method is immutable; create a new VirtualMachineMigration to move the VM another way")
  @JsonPropertyDescription(
      "Live (default): the guest keeps running while it moves. Restart: the guest is shut down"
          + " gracefully on the source (forced after the operator's shutdown grace period), its"
          + " disks are copied, and it is started on the target; once the guest is stopped the"
          + " move can no longer be aborted. Evacuation uses Restart for evictionStrategy Shutdown,"
          + " and for LiveMigrateOrShutdown after a live migration failed. Immutable.")
  public MigrationMethod method;

  @Default("Manual")
  @JsonPropertyDescription("Why: Manual (default), Evacuation (set by the operator) or Rebalance.")
  public MigrationReason reason;
}
