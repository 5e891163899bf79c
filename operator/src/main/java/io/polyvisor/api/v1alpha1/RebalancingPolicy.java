package io.polyvisor.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.ValidationRule;

/** When and how the operator relieves an overloaded node of this class by live-migrating VMs off it. */
@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
    value = "self.memoryWatermarkPercent < self.memoryThresholdPercent",
    message = "rebalancing.memoryWatermarkPercent must be below memoryThresholdPercent (the gap keeps moves from going back and"
        + " forth); lower the watermark or raise the threshold")
@ValidationRule(
    value = "!has(self.cpuThresholdPercent) || !has(self.cpuWatermarkPercent) || self.cpuWatermarkPercent < self.cpuThresholdPercent",
    message = "rebalancing.cpuWatermarkPercent must be below cpuThresholdPercent; lower the watermark or raise the threshold")
public class RebalancingPolicy {

  @Min(1)
  @Max(100)
  @Default("85")
  @JsonPropertyDescription(
      "A node whose memory pressure is above this percent is relieved. Memory pressure is the larger of: the memory"
          + " committed to its guests (Static size, Dynamic minimum) over what the class lets it hold (allocatable memory"
          + " times memoryOvercommitPercent), and the memory its guests use (Dynamic: as the balloon follows their"
          + " demand; Static: their size) over its allocatable memory. Default 85.")
  public Integer memoryThresholdPercent;

  @Min(0)
  @Max(99)
  @Default("70")
  @JsonPropertyDescription(
      "VMs are moved off a relieved node until its memory pressure is at most this percent, and only to nodes that stay"
          + " at most this percent themselves. Below memoryThresholdPercent. Default 70.")
  public Integer memoryWatermarkPercent;

  @Min(1)
  @Max(1000)
  @JsonPropertyDescription(
      "Optional: a node whose CPU pressure exceeds this percent is relieved too. CPU pressure is the larger of the vCPUs"
          + " committed to guests over what the class lets the node hold (allocatable CPUs times cpuOvercommitRatio) and,"
          + " where the hypervisor counts it (libvirt), the CPU its guests were measured to use over its allocatable CPUs."
          + " Unset: CPU is not rebalanced, and no CPU time is read.")
  public Integer cpuThresholdPercent;

  @Min(0)
  @Max(999)
  @JsonPropertyDescription("With cpuThresholdPercent: the CPU pressure to bring a node under, and that targets stay under."
      + " Default: 80% of cpuThresholdPercent.")
  public Integer cpuWatermarkPercent;

  @Min(0)
  @Default("600")
  @JsonPropertyDescription("A VM that moved (for any reason) less than this many seconds ago is not moved again. Default 600.")
  public Integer coolDownSeconds;

  @Min(1)
  @Max(3600)
  @Default("30")
  @JsonPropertyDescription("How often the class's nodes are looked at, in seconds. Default 30.")
  public Integer intervalSeconds;
}
