package io.polyvisor.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;

/** One CPU feature of a KVM guest, by libvirt's name, and what libvirt must do about it. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class CpuFeature {

  @Required
  @Size(max = 64)
  @Pattern("^[a-z0-9][a-z0-9_.-]{0,63}$")
  @JsonPropertyDescription("The feature's name as libvirt knows it (virsh cpu-models, /usr/share/libvirt/cpu_map), e.g."
      + " arch-capabilities, pcid, avx512f.")
  public String name;

  @Default("require")
  @Size(max = 8)
  @Pattern("^(force|require|optional|disable|forbid)$")
  @JsonPropertyDescription("libvirt's policy: require (default: the guest gets it, and starts only where the host has it),"
      + " disable (the guest does not get it, even where the host has it), forbid (the guest starts only where the host"
      + " lacks it), optional, or force.")
  public String policy;
}
