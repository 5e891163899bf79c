package io.polyvisor.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

/** The part of a VirtualMachineMigration's status that is mirrored on its VM. */
@JsonInclude(JsonInclude.Include.NON_NULL)
public class MigrationSummary {

  @JsonPropertyDescription("Name of the VirtualMachineMigration.")
  public String name;

  @JsonPropertyDescription("Its phase.")
  public MigrationPhase phase;

  @JsonPropertyDescription("The node the guest is leaving.")
  public String sourceNode;

  @JsonPropertyDescription("The node the guest is moving to.")
  public String targetNode;

  @JsonPropertyDescription("How far the transfer got, 0 to 100.")
  public Integer progressPercent;
}
