package io.polyvisor.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonProperty;

/** Which hypervisor management API a class's nodes speak. */
public enum Driver {
  /** KVM hosts managed through libvirtd. */
  @JsonProperty("libvirt")
  LIBVIRT,
  /** Microsoft Hyper-V hosts managed through WinRM and PowerShell. */
  @JsonProperty("hyperv")
  HYPERV
}
