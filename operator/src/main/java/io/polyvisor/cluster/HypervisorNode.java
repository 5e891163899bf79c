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
 * memory it offers, its labels and its management endpoint.
 */
public record HypervisorNode(
    String name, boolean ready, boolean cordoned, Map<String, String> labels, long allocatableMemoryBytes, Host host) {

  /** Reads a Node; the endpoint comes from the node's annotation or the class's template. */
  public static HypervisorNode of(Node node, HypervisorClass hypervisorClass) {
    String name = node.getMetadata().getName();
    boolean ready =
        node.getStatus() != null
            && node.getStatus().getConditions() != null
            && node.getStatus().getConditions().stream()
                .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
    boolean cordoned = node.getSpec() != null && Boolean.TRUE.equals(node.getSpec().getUnschedulable());
    Quantity memory =
        node.getStatus() == null || node.getStatus().getAllocatable() == null
            ? null
            : node.getStatus().getAllocatable().get("memory");
    long allocatable = memory == null ? 0 : memory.getNumericalAmount().longValue();
    Map<String, String> labels = node.getMetadata().getLabels() == null ? Map.of() : node.getMetadata().getLabels();
    var secret = Optional.ofNullable(hypervisorClass.getSpec().connection.credentialsSecretRef)
        .map(ref -> new Host.SecretName(ref.namespace, ref.name));
    return new HypervisorNode(
        name, ready, cordoned, labels, allocatable, new Host(name, endpoint(node, hypervisorClass), secret));
  }

  /**
   * A host whose Node object is gone, still reachable at the endpoint last recorded for it: never
   * ready, never chosen, only searched for guests it may still run.
   */
  public static HypervisorNode gone(String name, String endpoint, HypervisorClass hypervisorClass) {
    var secret = Optional.ofNullable(hypervisorClass.getSpec().connection.credentialsSecretRef)
        .map(ref -> new Host.SecretName(ref.namespace, ref.name));
    return new HypervisorNode(name, false, true, Map.of(), 0, new Host(name, endpoint, secret));
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
