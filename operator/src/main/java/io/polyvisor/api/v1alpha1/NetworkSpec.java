package io.polyvisor.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class NetworkSpec {

  @Required
  @Pattern(Names.DNS_LABEL)
  @Size(max = 63)
  @JsonPropertyDescription("Name of the interface, unique within the VM: a DNS label.")
  public String name;

  @Required
  @Size(min = 1, max = 255)
  @JsonPropertyDescription(
      "What the interface plugs into: a libvirt network or host bridge on KVM, a virtual switch"
          + " on Hyper-V.")
  public String network;
}
