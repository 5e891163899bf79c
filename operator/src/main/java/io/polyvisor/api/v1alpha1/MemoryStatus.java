package io.polyvisor.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Quantity;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class MemoryStatus {

  @JsonPropertyDescription("Memory the hypervisor currently gives the guest.")
  public Quantity assigned;
}
