package io.polyvisor.node;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.cluster.HypervisorNode;
import io.polyvisor.driver.Drivers;
import io.polyvisor.driver.HostCpuModels;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.evacuation.DrainPlans;
import io.polyvisor.planner.CpuModels;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps each hypervisor Node's {@code cpu-model.polyvisor.io/<model>} labels equal to the CPU
 * models its hypervisor reports (see {@link CpuModels}), read again every {@link #PERIOD}: they
 * change only with the host's hardware or QEMU. A host that cannot be read keeps the labels it
 * has (they are a hint for planning; a live move still asks the target's hypervisor), and is
 * read again sooner. Writes only when the labels change.
 */
public final class CpuModelLabelReconciler implements Reconciler<Node> {

  private static final Logger log = LoggerFactory.getLogger(CpuModelLabelReconciler.class);
  static final Duration PERIOD = Duration.ofMinutes(10);
  private static final Duration UNREADABLE_RETRY = Duration.ofMinutes(1);

  private final KubernetesClient client;
  private final Drivers drivers;

  public CpuModelLabelReconciler(KubernetesClient client, Drivers drivers) {
    this.client = client;
    this.drivers = drivers;
  }

  @Override
  public UpdateControl<Node> reconcile(Node node, Context<Node> context) {
    Optional<HypervisorClass> hvc = DrainPlans.classOf(node, client.resources(HypervisorClass.class).list().getItems());
    if (hvc.isEmpty()) {
      return UpdateControl.<Node>noUpdate().rescheduleAfter(PERIOD); // a class may select it later
    }
    HypervisorNode host = HypervisorNode.of(node, hvc.get());
    if (!host.ready()) {
      // Not Ready: its host may not answer, and a call would hold a thread until it times out.
      return UpdateControl.<Node>noUpdate().rescheduleAfter(UNREADABLE_RETRY);
    }
    HostCpuModels models;
    try {
      models = drivers.get(hvc.get().getSpec().driver).map(d -> d.cpuModels(host.host())).orElse(HostCpuModels.UNKNOWN);
    } catch (HypervisorException e) {
      log.info("cannot read the CPU models of {}; its labels stay as they are: {}", node.getMetadata().getName(), e.getMessage());
      return UpdateControl.<Node>noUpdate().rescheduleAfter(UNREADABLE_RETRY);
    }
    Map<String, String> labels = node.getMetadata().getLabels() == null ? Map.of() : node.getMetadata().getLabels();
    Map<String, String> changes = CpuModels.changes(labels, models);
    if (!changes.isEmpty()) {
      // A merge patch of these keys only (null removes one): the Node's other labels are its owners'.
      ObjectNode patch = JsonNodeFactory.instance.objectNode();
      ObjectNode labelChanges = patch.putObject("metadata").putObject("labels");
      changes.forEach((key, value) -> {
        if (value == null) {
          labelChanges.putNull(key);
        } else {
          labelChanges.put(key, value);
        }
      });
      client.nodes().withName(node.getMetadata().getName()).patch(PatchContext.of(PatchType.JSON_MERGE), patch.toString());
      log.info("{} offers CPU models {}, host-model {}", node.getMetadata().getName(), new java.util.TreeSet<>(models.usable()),
          models.hostModel().orElse("not named"));
    }
    return UpdateControl.<Node>noUpdate().rescheduleAfter(PERIOD);
  }
}
