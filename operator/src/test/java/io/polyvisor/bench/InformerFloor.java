package io.polyvisor.bench;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.polyvisor.api.v1alpha1.VirtualMachine;

/**
 * The footprint floor: a JVM that only caches every VirtualMachine with one fabric8 informer, the
 * least any operator of these objects holds. Run as its own process (KUBECONFIG from the
 * environment) beside the operator; prints {@code synced N} once its cache holds the list, then
 * idles until killed.
 */
public final class InformerFloor {

  private InformerFloor() {}

  public static void main(String[] args) throws InterruptedException {
    KubernetesClient client = new KubernetesClientBuilder().build();
    SharedIndexInformer<VirtualMachine> informer = client.resources(VirtualMachine.class).inAnyNamespace().inform(
        new ResourceEventHandler<>() {
          @Override
          public void onAdd(VirtualMachine vm) {}

          @Override
          public void onUpdate(VirtualMachine before, VirtualMachine after) {}

          @Override
          public void onDelete(VirtualMachine vm, boolean unknownFinalState) {}
        });
    while (!informer.hasSynced()) {
      Thread.sleep(50);
    }
    System.out.println("synced " + informer.getStore().list().size());
    Thread.currentThread().join();
  }
}
