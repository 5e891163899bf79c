package io.polyvisor.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Quantity;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class MemoryStatus {

  @JsonPropertyDescription("Memory the hypervisor currently gives the guest.")
  public Quantity assigned;

  @JsonPropertyDescription(
      "What the guest needs for what it runs now, as its balloon driver last reported it (KVM guests with Dynamic"
          + " memory); absent until the driver reports, as while the guest boots.")
  public Quantity demand;
}
