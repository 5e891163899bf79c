package io.polyvisor.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class DiskSource {

  @Required
  @Pattern("^(file:///|https?://)\\S+$")
  @JsonPropertyDescription(
      "Image to fill the disk from: file:///path (a file on the host, cloned) or http(s)://"
          + " (streamed by the operator into the volume).")
  public String url;
}
