package io.polyvisor.planner;

import io.polyvisor.api.v1alpha1.ApiGroup;
import io.polyvisor.api.v1alpha1.Driver;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.cluster.HypervisorNode;
import io.polyvisor.driver.GuestSpec;
import io.polyvisor.driver.HostCpuModels;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Which CPU a guest needs from a node, and which CPU models a node offers: the operator labels
 * each Node with {@code cpu-model.polyvisor.io/<model>} for every named model its hypervisor can
 * give guests ({@value #USABLE}), and for the one its host-model stands for when that is not
 * usable by name ({@value #HOST_MODEL}: a guest that runs with it can come live, a guest cannot be
 * defined with it), so that placement, evacuation plans and drain plans (also the kubectl
 * plugin's, which reads no host) pass over a node that cannot run the guest. A node without
 * such labels is not known to refuse any (its hypervisor does not say, or it has not been read
 * yet). A model is one part of a CPU: the migration controller still asks the target's hypervisor
 * to compare the whole CPU, features included, before a live move.
 */
public final class CpuModels {

  public static final String LABEL_PREFIX = "cpu-model." + ApiGroup.GROUP + "/";
  static final String USABLE = "true";
  static final String HOST_MODEL = "host-model";
  /** What a label's name may be after its prefix. */
  private static final Pattern LABEL_NAME = Pattern.compile("[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?");

  private CpuModels() {}

  /**
   * A model a guest needs from its next host.
   *
   * @param live the guest moves live with a CPU it runs with already (a host-model node may take it)
   * @param source where the need comes from, for a person
   */
  public record Requirement(String model, boolean live, String source) {}

  /**
   * What the guest needs on its next host. A live move keeps the CPU the guest runs with
   * ({@code status.cpuModel}; none recorded, none asked: the controller's comparison decides); a
   * guest started afresh gets the class's {@code cpuModel}, which binds only when it names a
   * model (host-model is whatever the new host offers).
   */
  public static Optional<Requirement> required(VirtualMachine vm, HypervisorClass hypervisorClass, boolean live) {
    if (live) {
      return Optional.ofNullable(vm.getStatus() == null ? null : vm.getStatus().cpuModel)
          .map(m -> new Requirement(m, true, "status.cpuModel: the guest keeps its CPU when it moves live"));
    }
    String model = hypervisorClass.getSpec().cpuModel;
    boolean named = model != null && !GuestSpec.HOST_MODEL.equals(model) && !GuestSpec.HOST_PASSTHROUGH.equals(model);
    // Hyper-V guests have no named model (the class's cpuModel is for KVM guests).
    return named && hypervisorClass.getSpec().driver == Driver.LIBVIRT
        ? Optional.of(new Requirement(model, false, "the class's cpuModel")) : Optional.empty();
  }

  /** Whether the node can give a guest this model: its labels say so, or it has no CPU model labels at all. */
  public static boolean offers(HypervisorNode node, Requirement requirement) {
    String value = node.labels().get(LABEL_PREFIX + requirement.model());
    return USABLE.equals(value) || (requirement.live() && HOST_MODEL.equals(value))
        || node.labels().keySet().stream().noneMatch(CpuModels::isLabel);
  }

  public static boolean isLabel(String key) {
    return key.startsWith(LABEL_PREFIX);
  }

  /**
   * The labels of a node whose hypervisor offers these models: one per model whose name a label
   * can hold (QEMU's names all can).
   */
  public static Map<String, String> labels(HostCpuModels models) {
    Map<String, String> labels = new TreeMap<>();
    models.hostModel().filter(m -> LABEL_NAME.matcher(m).matches()).ifPresent(m -> labels.put(LABEL_PREFIX + m, HOST_MODEL));
    models.usable().stream().filter(m -> LABEL_NAME.matcher(m).matches()).forEach(m -> labels.put(LABEL_PREFIX + m, USABLE));
    return labels;
  }

  /**
   * What to change in a node's labels so that its CPU model labels say these models: a label to
   * add or change maps to its value, one to remove to null (as a JSON merge patch says it). Empty
   * when they already do.
   */
  public static Map<String, String> changes(Map<String, String> current, HostCpuModels models) {
    Map<String, String> wanted = labels(models);
    Map<String, String> changes = new TreeMap<>();
    wanted.forEach((key, value) -> {
      if (!value.equals(current.get(key))) {
        changes.put(key, value);
      }
    });
    current.keySet().stream().filter(CpuModels::isLabel).filter(key -> !wanted.containsKey(key)).forEach(key -> changes.put(key, null));
    return changes;
  }
}
