package io.polyvisor.vm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.bench.TestDriverNodes;
import io.polyvisor.testing.OperatorProcess;
import io.polyvisor.testing.RealApiServer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pass reads back the status the pass before it wrote, even when it runs before the informer
 * has seen that write (the pass after a placement is scheduled a millisecond later): each VM is
 * placed once and said to be placed once. A pass that read the cache from before its own
 * placement placed the VM again, said "Scheduled" again (the Event's count went to 2) and wrote
 * the same status again. (The operator's count of its status writes is not asserted: it counts
 * every VM the process looks at, and the shared API server holds other tests' VMs.)
 */
class OwnStatusReadBackIT {

  private static final String CLASS = "read-back";
  private static final int VMS = 12;

  @TempDir Path work;

  @Test
  void eachVmIsPlacedAndSaidScheduledOnce() throws Exception {
    KubernetesClient client = RealApiServer.client();
    try (TestDriverNodes nodes = TestDriverNodes.start(client, work.resolve("hosts"), CLASS, 2);
        OperatorProcess operator = OperatorProcess.start(work.resolve("operator"), Map.of())) {
      nodes.warmUp();
      String namespace = RealApiServer.newNamespace("read-back");
      List<String> names = IntStream.rangeClosed(1, VMS).mapToObj(i -> "rb" + i).toList();
      names.parallelStream().forEach(name ->
          client.resource(TestDriverNodes.vm(client, name, CLASS)).inNamespace(namespace).create());
      await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(200)).until(() ->
          client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems().stream()
              .filter(vm -> vm.getStatus() != null && vm.getStatus().phase == VirtualMachinePhase.Running).count() == VMS);
      // What a pass that lags behind its own write would still say or write, given a moment.
      Thread.sleep(2000);

      List<Event> events = client.v1().events().inNamespace(namespace).list().getItems();
      for (VirtualMachine vm : client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems()) {
        List<Event> scheduled = events.stream()
            .filter(e -> vm.getMetadata().getUid().equals(e.getInvolvedObject().getUid()) && "Scheduled".equals(e.getReason()))
            .toList();
        assertThat(scheduled).as("Scheduled Events of %s", vm.getMetadata().getName()).hasSize(1);
        assertThat(scheduled.get(0).getCount()).as("times %s was said to be placed", vm.getMetadata().getName()).isEqualTo(1);
        assertThat(scheduled.get(0).getMessage()).isEqualTo("placed on node " + vm.getStatus().nodeName);
      }
    }
  }
}
