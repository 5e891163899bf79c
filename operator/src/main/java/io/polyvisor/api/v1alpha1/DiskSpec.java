package io.polyvisor.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class DiskSpec {

  @Required
  @Pattern(Names.DNS_LABEL)
  @Size(max = 63)
  @JsonPropertyDescription(
      "Name of the disk, unique within the VM: a DNS label (lower-case letters, digits and '-',"
          + " at most 63 characters).")
  public String name;

  @Required
  @Pattern(Names.DNS_SUBDOMAIN)
  @JsonPropertyDescription(
      "The StorageClass the disk is provisioned from. Its provisioner must match the VM's"
          + " hypervisor (libvirt.polyvisor.io or hyperv.polyvisor.io).")
  public String storageClassName;

  @Required
  @Size(max = Names.QUANTITY_MAX_LENGTH)
  @ValidationRule(
      value = "isQuantity(self)",
      message = "disks[].size must be a quantity such as 10Gi")
  @ValidationRule(
      value = "!isQuantity(self) || quantity(self).isGreaterThan(quantity('0'))",
      message = "disks[].size must be greater than zero")
  @JsonPropertyDescription("Capacity of the disk, e.g. 10Gi. With a source, at least the source's size.")
  public String size;

  @JsonPropertyDescription("Where the disk's initial content comes from. Unset: an empty disk.")
  public DiskSource source;

  @Min(1)
  @JsonPropertyDescription("Position of the disk in the boot order, 1 first. Unset: not bootable.")
  public Integer bootOrder;
}
