package io.polyvisor.testing;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.libvirt.LibvirtDriver;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * What most end-to-end tests stand on: real libvirtd nodes registered as Nodes of one libvirt
 * HypervisorClass in the shared API server, a local StorageClass, the counter guest's image, a
 * driver to read the hosts with, and the operator as its own process. Closing stops all of it.
 */
public final class ClassTestbed implements AutoCloseable {

  public final KubernetesClient client;
  public final KvmNodes nodes;
  public final Path image;
  public final LibvirtDriver libvirt;
  public final OperatorProcess operator;

  private ClassTestbed(KubernetesClient client, KvmNodes nodes, Path image, LibvirtDriver libvirt, OperatorProcess operator) {
    this.client = client;
    this.nodes = nodes;
    this.image = image;
    this.libvirt = libvirt;
    this.operator = operator;
  }

  /**
   * @param memory each Node's allocatable memory
   * @param classSpec changes to the class's spec before it is applied
   */
  public static ClassTestbed start(Path work, String className, String storageClass, List<String> nodeNames, String memory,
      Consumer<HypervisorClass> classSpec, Map<String, String> operatorEnvironment) throws Exception {
    KubernetesClient client = RealApiServer.client();
    KvmNodes nodes = KvmNodes.start(work.resolve("nodes"), nodeNames.toArray(String[]::new));
    LibvirtDriver libvirt = new LibvirtDriver();
    try {
      for (Host host : nodes.hosts()) {
        NodeRegistration.register(host, memory, className);
      }
      Path image = CounterGuest.build(work);
      HypervisorClass hvc = client.getKubernetesSerialization().unmarshal(
          TestManifests.hypervisorClass(className, "libvirt", "qemu+tcp://{node.address}/system"), HypervisorClass.class);
      classSpec.accept(hvc);
      client.resource(hvc).serverSideApply();
      client.resource(TestManifests.localStorageClass(storageClass)).serverSideApply();
      OperatorProcess operator = OperatorProcess.start(work.resolve("operator"), operatorEnvironment);
      return new ClassTestbed(client, nodes, image, libvirt, operator);
    } catch (Exception | Error e) {
      libvirt.close();
      nodes.close();
      throw e;
    }
  }

  @Override
  public void close() {
    operator.close();
    libvirt.close();
    nodes.close();
  }
}
