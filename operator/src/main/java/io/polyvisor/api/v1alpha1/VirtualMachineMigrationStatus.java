package io.polyvisor.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class VirtualMachineMigrationStatus {

  @JsonPropertyDescription(
      "Pending, Scheduling, Running, then one of Succeeded, Failed or Aborted.")
  public MigrationPhase phase;

  @JsonPropertyDescription("The node the guest left (or is leaving).")
  public String sourceNode;

  @JsonPropertyDescription("The node the guest moved (or is moving) to.")
  public String targetNode;

  @JsonPropertyDescription("How far the memory (and disk) transfer got, 0 to 100.")
  public Integer progressPercent;

  @JsonPropertyDescription("Bytes transferred so far.")
  public Long dataProcessedBytes;

  @JsonPropertyDescription("Bytes the transfer has to move in all, as last estimated.")
  public Long dataTotalBytes;

  @JsonPropertyDescription(
      "True once the transfer switched to post-copy (the class allows it and pre-copy outran its"
          + " completion timeout): the guest runs on the target and fetches the memory it still lacks"
          + " from the source; from then on the migration can no longer be aborted.")
  public Boolean postCopy;

  @JsonPropertyDescription(
      "True once the target was seen running the guest after the transfer, recorded before anything"
          + " is done about it: from then on the source's copy is older than what ran on the target and"
          + " is never resumed, whatever happens to the target.")
  public Boolean targetHasRun;

  @JsonPropertyDescription("How long the guest was paused during the switch-over, in milliseconds.")
  public Long downtimeMillis;

  @JsonPropertyDescription("When the transfer started (RFC 3339).")
  public String startTime;

  @JsonPropertyDescription("When the migration reached a final phase (RFC 3339).")
  public String completionTime;

  @JsonPropertyDescription("What happened, in words: why it failed or was aborted, or where it is.")
  public String message;
}
