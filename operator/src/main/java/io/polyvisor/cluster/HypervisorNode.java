package io.polyvisor.cluster;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeAddress;
import io.fabric8.kubernetes.api.model.Quantity;
import io.polyvisor.api.v1alpha1.ApiGroup;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.driver.Host;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * A Kubernetes Node as the operator sees a hypervisor host: whether it may take VMs, how much
 * memory and CPU it offers (its allocatable memory and cpu), its labels, its management endpoint, and whether a person has declared it out
 * of service.
 *
 * @param outOfService the Node carries Kubernetes' {@value #OUT_OF_SERVICE} taint: a person has
 *     checked that the host is down (powered off, or cut off for good). A guest that it held and that
 *     cannot be read there is then taken as not running, and may be started elsewhere; a host that
 *     answers is still believed over the taint.
 */
public record HypervisorNode(String name, boolean ready, boolean cordoned, boolean outOfService, Map<String, String> labels,
    long allocatableMemoryBytes, long allocatableMillicpu, Host host) {

  /** The taint with which a person declares a node's host down, as Kubernetes defines it for pods. */
  public static final String OUT_OF_SERVICE = "node.kubernetes.io/out-of-service";

  /** Reads a Node; the endpoint comes from the node's annotation or the class's template. */
  public static HypervisorNode of(Node node, HypervisorClass hypervisorClass) {
    String name = node.getMetadata().getName();
    boolean ready =
        node.getStatus() != null
            && node.getStatus().getConditions() != null
            && node.getStatus().getConditions().stream()
                .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
    boolean cordoned = node.getSpec() != null && Boolean.TRUE.equals(node.getSpec().getUnschedulable());
    boolean outOfService = outOfService(node);
    Quantity memory = allocatable(node, "memory");
    Quantity cpu = allocatable(node, "cpu");
    Map<String, String> labels = node.getMetadata().getLabels() == null ? Map.of() : node.getMetadata().getLabels();
    var secret = Optional.ofNullable(hypervisorClass.getSpec().connection.credentialsSecretRef)
        .map(ref -> new Host.SecretName(ref.namespace, ref.name));
    // A node declared down takes no VM, whatever its Ready condition still says.
    return new HypervisorNode(name, ready && !outOfService, cordoned, outOfService, labels,
        memory == null ? 0 : memory.getNumericalAmount().longValue(),
        cpu == null ? 0 : cpu.getNumericalAmount().movePointRight(3).longValue(),
        new Host(name, endpoint(node, hypervisorClass), secret));
  }

  private static Quantity allocatable(Node node, String resource) {
    return node.getStatus() == null || node.getStatus().getAllocatable() == null ? null : node.getStatus().getAllocatable().get(resource);
  }

  /** Whether the Node carries the out-of-service taint, with any value and effect. */
  public static boolean outOfService(Node node) {
    return node.getSpec() != null && node.getSpec().getTaints() != null
        && node.getSpec().getTaints().stream().anyMatch(t -> OUT_OF_SERVICE.equals(t.getKey()));
  }

  /**
   * A host whose Node object is gone, still reachable at the endpoint last recorded for it: never
   * ready, never chosen, only searched for guests it may still run.
   */
  public static HypervisorNode gone(String name, String endpoint, HypervisorClass hypervisorClass) {
    var secret = Optional.ofNullable(hypervisorClass.getSpec().connection.credentialsSecretRef)
        .map(ref -> new Host.SecretName(ref.namespace, ref.name));
    return new HypervisorNode(name, false, true, false, Map.of(), 0, 0, new Host(name, endpoint, secret));
  }

  /** Whether the node's labels satisfy a selector (every key with its value). */
  public boolean matches(Map<String, String> selector) {
    return selector == null || selector.entrySet().stream().allMatch(e -> Objects.equals(labels.get(e.getKey()), e.getValue()));
  }

  /** The endpoint: the node's {@code polyvisor.io/endpoint} annotation, else the class's template filled in. */
  static String endpoint(Node node, HypervisorClass hypervisorClass) {
    Map<String, String> annotations = node.getMetadata().getAnnotations();
    if (annotations != null && annotations.containsKey(ApiGroup.ENDPOINT_ANNOTATION)) {
      return annotations.get(ApiGroup.ENDPOINT_ANNOTATION);
    }
    String address =
        node.getStatus() == null || node.getStatus().getAddresses() == null
            ? node.getMetadata().getName()
            : node.getStatus().getAddresses().stream()
                .filter(a -> "InternalIP".equals(a.getType()))
                .map(NodeAddress::getAddress)
                .findFirst()
                .orElse(node.getMetadata().getName());
    return hypervisorClass.getSpec().connection.endpoint
        .replace("{node.name}", node.getMetadata().getName())
        .replace("{node.address}", address);
  }
}
