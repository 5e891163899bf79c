package io.polyvisor.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;

/**
 * Guest memory. Sizes are Kubernetes quantity strings ("512Mi", "4Gi"), bounded in length so the
 * API server can bound the cost of the CEL rules that parse them; each comparison is guarded by
 * {@code isQuantity} so that a malformed value is reported by its own rule instead of an
 * evaluation error.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
    value = "self.policy == 'Dynamic' || !has(self.minimum)",
    fieldPath = ".minimum",
    message = "memory.minimum applies only to policy Dynamic; remove it or set memory.policy: Dynamic")
@ValidationRule(
    value = "self.policy == 'Dynamic' || !has(self.maximum)",
    fieldPath = ".maximum",
    message = "memory.maximum applies only to policy Dynamic; remove it or set memory.policy: Dynamic")
@ValidationRule(
    value = "self.policy == 'Dynamic' || !has(self.bufferPercent)",
    fieldPath = ".bufferPercent",
    message =
        "memory.bufferPercent applies only to policy Dynamic; remove it or set memory.policy: Dynamic")
@ValidationRule(
    value = "self.policy == 'Dynamic' || !has(self.priority)",
    fieldPath = ".priority",
    message = "memory.priority applies only to policy Dynamic; remove it or set memory.policy: Dynamic")
@ValidationRule(
    value = "self.policy != 'Dynamic' || (has(self.minimum) && has(self.maximum))",
    message = "memory.policy Dynamic needs memory.minimum and memory.maximum; add both")
@ValidationRule(
    value =
        "self.policy != 'Dynamic' || !has(self.minimum) || !has(self.maximum)"
            + " || !isQuantity(self.minimum) || !isQuantity(self.size)"
            + " || !isQuantity(self.maximum)"
            + " || (quantity(self.minimum).compareTo(quantity(self.size)) <= 0"
            + " && quantity(self.size).compareTo(quantity(self.maximum)) <= 0)",
    message =
        "memory.policy Dynamic needs minimum <= size <= maximum; change memory.minimum, memory.size"
            + " or memory.maximum")
public class MemorySpec {

  private static final String IS_QUANTITY = "isQuantity(self)";
  private static final String QUANTITY_MESSAGE = " must be a quantity such as 512Mi or 4Gi";
  private static final String AT_LEAST_16MI =
      "!isQuantity(self) || quantity(self).compareTo(quantity('16Mi')) >= 0";

  @Default("Static")
  @JsonPropertyDescription(
      "Static (default): a fixed size. Dynamic: the guest's allocation moves between minimum and"
          + " maximum with its demand (Hyper-V Dynamic Memory; a virtio balloon on KVM).")
  public MemoryPolicy policy;

  @Required
  @Size(max = Names.QUANTITY_MAX_LENGTH)
  @ValidationRule(value = IS_QUANTITY, message = "memory.size" + QUANTITY_MESSAGE)
  @ValidationRule(value = AT_LEAST_16MI, message = "memory.size must be at least 16Mi")
  @JsonPropertyDescription(
      "Static: the guest's memory. Dynamic: its memory at start-up. At least 16Mi.")
  public String size;

  @Size(max = Names.QUANTITY_MAX_LENGTH)
  @ValidationRule(value = IS_QUANTITY, message = "memory.minimum" + QUANTITY_MESSAGE)
  @ValidationRule(value = AT_LEAST_16MI, message = "memory.minimum must be at least 16Mi")
  @JsonPropertyDescription(
      "Dynamic only: the least memory the guest keeps. Placement counts this amount against a"
          + " node's capacity. Required with Dynamic; at most size.")
  public String minimum;

  @Size(max = Names.QUANTITY_MAX_LENGTH)
  @ValidationRule(value = IS_QUANTITY, message = "memory.maximum" + QUANTITY_MESSAGE)
  @ValidationRule(value = AT_LEAST_16MI, message = "memory.maximum must be at least 16Mi")
  @JsonPropertyDescription(
      "Dynamic only: the most memory the guest may ever get; a hard limit. Required with"
          + " Dynamic; at least size.")
  public String maximum;

  @Min(5)
  @Max(2000)
  @JsonPropertyDescription(
      "Dynamic only: memory kept above the guest's demand, as a percentage of that demand. 5 to"
          + " 2000; when unset the operator uses 20.")
  public Integer bufferPercent;

  @Min(0)
  @Max(100)
  @JsonPropertyDescription(
      "Dynamic only: which guests get memory first when a host runs short, 0 (last) to 100"
          + " (first); when unset the operator uses 50.")
  public Integer priority;

  @Default("None")
  @JsonPropertyDescription(
      "NUMA placement of guest memory: None (default), Preferred (local first, remote when"
          + " short) or Strict (local only, or the guest does not start).")
  public NumaPlacement numa;

  /** bufferPercent as the operator applies it: absent means 20, as the description says. */
  public int effectiveBufferPercent() {
    return bufferPercent == null ? 20 : bufferPercent;
  }

  /** priority as the operator applies it: absent means 50, as the description says. */
  public int effectivePriority() {
    return priority == null ? 50 : priority;
  }
}
