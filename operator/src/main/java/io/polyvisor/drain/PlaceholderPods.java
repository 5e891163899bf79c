package io.polyvisor.drain;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.Mappers;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link DrainGuard} of a running operator: placeholder pods read from an informer (which also
 * wakes a VM when one of its placeholders is evicted or deleted) and written through the API.
 */
public final class PlaceholderPods implements DrainGuard {

  private static final Logger log = LoggerFactory.getLogger(PlaceholderPods.class);

  private final KubernetesClient client;
  private final String image;
  private final InformerEventSource<Pod, VirtualMachine> pods;

  public PlaceholderPods(EventSourceContext<VirtualMachine> context, String image) {
    this.client = context.getClient();
    this.image = image;
    this.pods =
        new InformerEventSource<>(
            InformerEventSourceConfiguration.from(Pod.class, VirtualMachine.class)
                .withName("placeholder-pods")
                .withLabelSelector(PlaceholderPod.ROLE_LABEL + "=" + PlaceholderPod.ROLE)
                .withSecondaryToPrimaryMapper(Mappers.fromOwnerReferences(VirtualMachine.class))
                .build(),
            context);
  }

  public EventSource<Pod, VirtualMachine> eventSource() {
    return pods;
  }

  @Override
  public boolean guardOn(VirtualMachine vm, String node) {
    boolean recorded = vm.getStatus() != null && node.equals(vm.getStatus().nodeName);
    GuardPlan plan = GuardPlan.guestOn(node, recorded, placeholdersOf(vm));
    if (plan.create()) {
      Pod created = client.resource(PlaceholderPod.build(vm, node, image)).create();
      // Seen at once by the next pass, before the informer delivers it: no second pod.
      pods.handleRecentResourceCreate(ResourceID.fromResource(created), created);
      log.info("placeholder pod {} created on {}", created.getMetadata().getName(), node);
    }
    plan.release().forEach(this::release);
    return !plan.releaseLater();
  }

  @Override
  public void releaseAll(VirtualMachine vm) {
    GuardPlan.guestNowhere(placeholdersOf(vm)).release().forEach(this::release);
  }

  /** By uid, not only by owner name: a VM deleted and created again under the same name is another VM. */
  private List<Pod> placeholdersOf(VirtualMachine vm) {
    String uid = vm.getMetadata().getUid();
    return pods.getSecondaryResources(vm).stream()
        .filter(p -> uid.equals(p.getMetadata().getLabels().get(PlaceholderPod.VM_UID_LABEL)))
        .toList();
  }

  /**
   * Finalizer first, then delete: a pod that a drain already evicted goes at once, and one that
   * was not is deleted without waiting (it holds nothing).
   */
  private void release(Pod pod) {
    var resource = client.pods().inNamespace(pod.getMetadata().getNamespace()).withName(pod.getMetadata().getName());
    List<String> others = pod.getMetadata().getFinalizers().stream().filter(f -> !PlaceholderPod.FINALIZER.equals(f)).toList();
    try {
      resource.patch(PatchContext.of(PatchType.JSON_MERGE),
          Serialization.asJson(Map.of("metadata", Map.of("finalizers", others))));
    } catch (KubernetesClientException e) {
      if (e.getCode() != 404) {
        throw e;
      }
      return; // gone already
    }
    resource.withGracePeriod(0).delete();
    log.info("placeholder pod {} on {} released", pod.getMetadata().getName(), PlaceholderPod.nodeOf(pod));
  }
}
