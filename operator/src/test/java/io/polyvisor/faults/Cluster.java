package io.polyvisor.faults;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.NonNamespaceOperation;
import io.fabric8.kubernetes.client.dsl.Resource;
import io.fabric8.kubernetes.api.model.GenericKubernetesResourceList;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.polyvisor.testing.NodeRegistration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * What the campaign does to the Kubernetes objects, as a person with kubectl would, through the
 * test's own client (straight to the API server, never through the fault proxy). Objects are
 * handled untyped, by their manifests' field names, so the campaign does not depend on the
 * operator's Java API classes.
 */
final class Cluster {

  static final String API_VERSION = "polyvisor.io/v1alpha1";
  /** The label that puts a Node in a HypervisorClass (see testbed/register-node). */
  static final String CLASS_LABEL = "polyvisor.io/hypervisor";

  private final KubernetesClient client;
  private final String namespace;
  private final String hypervisorClass;
  private final AtomicInteger migrationNumber = new AtomicInteger();

  Cluster(KubernetesClient client, String namespace, String hypervisorClass) {
    this.client = client;
    this.namespace = namespace;
    this.hypervisorClass = hypervisorClass;
  }

  KubernetesClient client() {
    return client;
  }

  String namespace() {
    return namespace;
  }

  NonNamespaceOperation<GenericKubernetesResource, GenericKubernetesResourceList, Resource<GenericKubernetesResource>> vmApi() {
    return client.genericKubernetesResources(API_VERSION, "VirtualMachine").inNamespace(namespace);
  }

  NonNamespaceOperation<GenericKubernetesResource, GenericKubernetesResourceList, Resource<GenericKubernetesResource>> migrationApi() {
    return client.genericKubernetesResources(API_VERSION, "VirtualMachineMigration").inNamespace(namespace);
  }

  Optional<GenericKubernetesResource> vm(String name) {
    return Optional.ofNullable(retry(() -> vmApi().withName(name).get()));
  }

  List<GenericKubernetesResource> vms() {
    return retry(() -> vmApi().list().getItems());
  }

  List<GenericKubernetesResource> migrations() {
    return retry(() -> migrationApi().list().getItems());
  }

  GenericKubernetesResource createVm(String manifest) {
    GenericKubernetesResource vm = client.getKubernetesSerialization().unmarshal(manifest, GenericKubernetesResource.class);
    vm.getMetadata().setNamespace(namespace);
    return retry(() -> vmApi().resource(vm).create());
  }

  void deleteVm(String name) {
    retry(() -> vmApi().withName(name).delete());
  }

  /** Creates a migration of {@code vm} (to {@code target}, or where the operator picks when null); returns it. */
  GenericKubernetesResource migrate(String vm, String target, String method) {
    String name = vm + "-" + (target == null ? "any" : target) + "-" + method.toLowerCase() + "-" + migrationNumber.incrementAndGet();
    String manifest = """
        apiVersion: %s
        kind: VirtualMachineMigration
        metadata:
          name: %s
          namespace: %s
        spec:
          vmName: %s
          method: %s
        """.formatted(API_VERSION, name, namespace, vm, method) + (target == null ? "" : "  targetNode: " + target + "\n");
    GenericKubernetesResource migration = client.getKubernetesSerialization().unmarshal(manifest, GenericKubernetesResource.class);
    return retry(() -> migrationApi().resource(migration).create());
  }

  void deleteMigration(String name) {
    retry(() -> migrationApi().withName(name).delete());
  }

  void cordon(String node, boolean cordoned) {
    retry(() -> {
      NodeRegistration.cordon(client, node, cordoned);
      return null;
    });
  }

  boolean cordoned(String node) {
    return Boolean.TRUE.equals(retry(() -> client.nodes().withName(node).get()).getSpec().getUnschedulable());
  }

  /** Puts the node in the campaign's class, or takes it out ({@code kubectl label node X polyvisor.io/hypervisor-}). */
  void classLabel(String node, boolean present) {
    String value = present ? "\"" + hypervisorClass + "\"" : "null";
    retry(() -> client.nodes().withName(node)
        .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"metadata\":{\"labels\":{\"" + CLASS_LABEL + "\":" + value + "}}}"));
  }

  boolean hasClassLabel(String node) {
    Map<String, String> labels = retry(() -> client.nodes().withName(node).get()).getMetadata().getLabels();
    return labels != null && hypervisorClass.equals(labels.get(CLASS_LABEL));
  }

  /** Merges {@code json} (an object's fields, e.g. {@code "bandwidthMiBps": 2}) into the class's spec.migration. */
  void migrationPolicy(String json) {
    retry(() -> client.genericKubernetesResources(API_VERSION, "HypervisorClass").withName(hypervisorClass)
        .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"spec\":{\"migration\":{" + json + "}}}"));
  }

  // --- reading untyped objects ------------------------------------------------------------------

  static String uid(GenericKubernetesResource r) {
    return r.getMetadata().getUid();
  }

  static String name(GenericKubernetesResource r) {
    return r.getMetadata().getName();
  }

  static String text(GenericKubernetesResource r, String... path) {
    Object value = r.get((Object[]) path);
    return value == null ? null : value.toString();
  }

  static String phase(GenericKubernetesResource r) {
    return text(r, "status", "phase");
  }

  static String nodeName(GenericKubernetesResource r) {
    return text(r, "status", "nodeName");
  }

  static boolean deleting(GenericKubernetesResource r) {
    return r.getMetadata().getDeletionTimestamp() != null;
  }

  static boolean finalPhase(String phase) {
    return "Succeeded".equals(phase) || "Failed".equals(phase) || "Aborted".equals(phase);
  }

  /**
   * The test's own calls go straight to the API server, which the campaign never breaks; a
   * slow server on this busy machine is retried; a refusal (400, 404, 409, 422) is not.
   */
  static <T> T retry(Supplier<T> call) {
    KubernetesClientException last = null;
    for (int attempt = 0; attempt < 5; attempt++) {
      try {
        return call.get();
      } catch (KubernetesClientException e) {
        if (e.getCode() == 400 || e.getCode() == 404 || e.getCode() == 409 || e.getCode() == 422) {
          throw e;
        }
        last = e;
        try {
          Thread.sleep(200L << attempt);
        } catch (InterruptedException interrupted) {
          Thread.currentThread().interrupt();
          throw e;
        }
      }
    }
    throw last;
  }
}
