package io.polyvisor.drain;

import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.polyvisor.api.v1alpha1.ApiGroup;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import java.util.Map;

/** The placeholder pod that stands for one VM on one node; see {@link DrainGuard}. */
public final class PlaceholderPod {

  /** On every placeholder: what selects them all (the operator's pod informer). */
  public static final String ROLE_LABEL = ApiGroup.GROUP + "/role";
  public static final String ROLE = "drain-guard";
  /** On every placeholder: the uid of the VM it stands for. */
  public static final String VM_UID_LABEL = ApiGroup.GROUP + "/vm-uid";
  /** Removed by the operator only once the VM's guest no longer runs on the pod's node. */
  public static final String FINALIZER = ApiGroup.GROUP + "/vm-on-node";
  /** Pod names end up as hostnames (63 characters); generateName adds five. */
  private static final int NAME_PREFIX_MAX = 50;

  private PlaceholderPod() {}

  public static Pod build(VirtualMachine vm, String node, String image) {
    return new PodBuilder()
        .withNewMetadata()
        .withGenerateName(namePrefix(vm.getMetadata().getName()))
        .withNamespace(vm.getMetadata().getNamespace())
        .withLabels(Map.of(
            ROLE_LABEL, ROLE,
            VM_UID_LABEL, vm.getMetadata().getUid(),
            "app.kubernetes.io/managed-by", "polyvisor"))
        // controller: true is what lets kubectl drain evict it without --force (drain refuses
        // pods that no controller would recreate), and what deletes it if the VM goes.
        .withOwnerReferences(new OwnerReferenceBuilder()
            .withApiVersion(vm.getApiVersion())
            .withKind(vm.getKind())
            .withName(vm.getMetadata().getName())
            .withUid(vm.getMetadata().getUid())
            .withController(true)
            .build())
        .withFinalizers(FINALIZER)
        .endMetadata()
        .withNewSpec()
        // Bound by name: the scheduler must not choose (the node may be cordoned or full).
        .withNodeName(node)
        // Evicted or released, it has no process worth waiting for; only the finalizer holds it.
        .withTerminationGracePeriodSeconds(0L)
        .withAutomountServiceAccountToken(false)
        .withEnableServiceLinks(false)
        // It must stay wherever the guest stays, whatever taints maintenance puts on the node.
        .addNewToleration().withOperator("Exists").endToleration()
        .addNewContainer()
        .withName("guard")
        .withImage(image)
        .withNewResources()
        .withRequests(Map.of("cpu", new Quantity("1m"), "memory", new Quantity("4Mi")))
        .withLimits(Map.of("memory", new Quantity("16Mi")))
        .endResources()
        // The pod security "restricted" profile, so that namespaces enforcing it accept the pod.
        .withNewSecurityContext()
        .withAllowPrivilegeEscalation(false)
        .withReadOnlyRootFilesystem(true)
        .withRunAsNonRoot(true)
        .withRunAsUser(65535L)
        .withNewCapabilities().withDrop("ALL").endCapabilities()
        .withNewSeccompProfile().withType("RuntimeDefault").endSeccompProfile()
        .endSecurityContext()
        .endContainer()
        .endSpec()
        .build();
  }

  static String namePrefix(String vmName) {
    String prefix = vmName.length() > NAME_PREFIX_MAX ? vmName.substring(0, NAME_PREFIX_MAX) : vmName;
    // A name segment must end with an alphanumeric character before "-guard-" is appended.
    prefix = prefix.replaceAll("[.-]+$", "");
    return prefix + "-guard-";
  }

  static boolean isTerminating(Pod pod) {
    return pod.getMetadata().getDeletionTimestamp() != null;
  }

  static String nodeOf(Pod pod) {
    return pod.getSpec() == null ? null : pod.getSpec().getNodeName();
  }
}
