package io.polyvisor.migration;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.polyvisor.api.v1alpha1.ApiGroup;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.cluster.ClusterState;
import java.net.HttpURLConnection;
import java.util.HashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One migration at a time per VM, arbitrated by the API server: a migration claims its VM by
 * writing its name into the VM's annotation with the resourceVersion it read, so of two
 * migrations created at once exactly one write succeeds (the other gets a conflict, reads the VM
 * again and finds it claimed). A claim naming a migration that has ended or is gone is free.
 */
final class VmClaim {

  /** On a VM: the name of the migration that holds it. */
  static final String ANNOTATION = ApiGroup.GROUP + "/migration";

  private static final Logger log = LoggerFactory.getLogger(VmClaim.class);

  private VmClaim() {}

  static Claim take(KubernetesClient client, VirtualMachine read, VirtualMachineMigration migration) {
    VirtualMachine vm = client.resource(read).get();
    if (vm == null || !vm.getMetadata().getUid().equals(read.getMetadata().getUid())) {
      return new Claim.Contended();
    }
    String name = migration.getMetadata().getName();
    String holder = annotations(vm).get(ANNOTATION);
    if (name.equals(holder)) {
      return new Claim.Held();
    }
    if (holder != null) {
      VirtualMachineMigration other = client.resources(VirtualMachineMigration.class)
          .inNamespace(vm.getMetadata().getNamespace()).withName(holder).get();
      if (other != null && ClusterState.isActive(other)) {
        return new Claim.HeldBy(holder);
      }
    }
    Map<String, String> annotations = new HashMap<>(annotations(vm));
    annotations.put(ANNOTATION, name);
    vm.getMetadata().setAnnotations(annotations);
    try {
      // An update carries the resourceVersion read above: the API server refuses it if the VM changed.
      client.resource(vm).update();
      return new Claim.Held();
    } catch (KubernetesClientException e) {
      if (e.getCode() == HttpURLConnection.HTTP_CONFLICT) {
        return new Claim.Contended();
      }
      throw e;
    }
  }

  /** Lets the VM go, if this migration holds it; a claim left behind is free anyway once the migration ended. */
  static void release(KubernetesClient client, VirtualMachineMigration migration) {
    try {
      VirtualMachine vm = client.resources(VirtualMachine.class).inNamespace(migration.getMetadata().getNamespace())
          .withName(migration.getSpec().vmName).get();
      if (vm == null || !migration.getMetadata().getName().equals(annotations(vm).get(ANNOTATION))) {
        return;
      }
      Map<String, String> annotations = new HashMap<>(annotations(vm));
      annotations.remove(ANNOTATION);
      vm.getMetadata().setAnnotations(annotations);
      client.resource(vm).update();
    } catch (KubernetesClientException e) {
      log.info("claim of {} not released ({}); it is free once the migration has ended", migration.getSpec().vmName, e.getMessage());
    }
  }

  private static Map<String, String> annotations(VirtualMachine vm) {
    return vm.getMetadata().getAnnotations() == null ? Map.of() : vm.getMetadata().getAnnotations();
  }
}
