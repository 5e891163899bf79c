package io.polyvisor.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class CpuSpec {

  @Min(1)
  @Max(256)
  @Default("1")
  @JsonPropertyDescription("Number of virtual CPU cores, 1 to 256. Default 1. Changes apply at the next restart.")
  public Integer cores;
}
