package io.polyvisor.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.kubernetes.api.model.Condition;
import java.util.ArrayList;
import java.util.List;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class VirtualMachineStatus {

  /** Condition types the operator maintains on every VM. */
  public static final String READY = "Ready";
  public static final String SCHEDULED = "Scheduled";
  public static final String LIVE_MIGRATABLE = "LiveMigratable";
  public static final String MIGRATING = "Migrating";
  public static final String RESTART_REQUIRED = "RestartRequired";
  /** False when the guest runs under software emulation, its host offering no hardware virtualisation. */
  public static final String ACCELERATED = "Accelerated";

  @JsonPropertyDescription(
      "Where the VM is in its life: Pending, Scheduled, Provisioning, Starting, Running, Paused"
          + " (paused or saved, not running), Migrating, Stopping, Stopped or Failed.")
  public VirtualMachinePhase phase;

  @JsonPropertyDescription("The node whose hypervisor runs (or last ran) the guest.")
  public String nodeName;

  @JsonPropertyDescription(
      "The management endpoint of nodeName's hypervisor when the guest was last seen there, so that"
          + " the host can still be checked for the guest after its Node is deleted.")
  public String hostEndpoint;

  @JsonPropertyDescription(
      "Nodes that held the guest when a person declared them down (taint"
          + " node.kubernetes.io/out-of-service) and that did not answer, so that the guest was started"
          + " elsewhere. What is left of it there is older: once such a node answers again, a stopped copy"
          + " and the volumes there are removed, and a copy that runs there is reported, not touched.")
  public List<String> abandonedNodes;

  @JsonPropertyDescription("The metadata.generation this status describes.")
  public Long observedGeneration;

  @JsonPropertyDescription(
      "Ready, Scheduled, LiveMigratable, Migrating, RestartRequired and Accelerated, each with the"
          + " generation it was computed for.")
  public List<Condition> conditions = new ArrayList<>();

  @JsonPropertyDescription(
      "The named CPU model the running guest has, as its hypervisor reports it (host-model as the host"
          + " expanded it when the guest started); a live migration keeps it, so it goes only to a node"
          + " labelled cpu-model.polyvisor.io/<model>, or to one whose CPU models are not known. Absent"
          + " for QEMU's default CPU and host-passthrough, and once the guest is found off.")
  public String cpuModel;

  @JsonPropertyDescription("Memory as the hypervisor reports it.")
  public MemoryStatus memory;

  @JsonPropertyDescription("The live migration under way, if any.")
  public MigrationSummary migration;
}
