package io.polyvisor.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.sun.net.httpserver.HttpServer;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.libvirt.LibvirtDriver;
import io.polyvisor.testing.CounterGuest;
import io.polyvisor.testing.KvmNodes;
import io.polyvisor.testing.NodeRegistration;
import io.polyvisor.testing.OperatorProcess;
import io.polyvisor.testing.RealApiServer;
import io.polyvisor.testing.TestManifests;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGTERM while a reconciliation is under way: the operator lets it finish (here: a disk image
 * streamed slowly from an http server into a real libvirtd, then the guest defined and started)
 * within its stop timeout, and only then exits.
 */
class GracefulStopIT {

  private static final String CLASS = "it-stop";
  private static final String STORAGE = "it-stop-local";
  /** The image is served in this many parts, one every {@link #PAUSE}: about six seconds in all. */
  private static final int PARTS = 15;
  private static final Duration PAUSE = Duration.ofMillis(400);

  @TempDir Path work;

  @Test
  void aReconciliationUnderWayWhenTheOperatorIsToldToStopFinishesBeforeItExits() throws Exception {
    KubernetesClient client = RealApiServer.client();
    byte[] image = Files.readAllBytes(CounterGuest.build(work));
    AtomicLong sent = new AtomicLong();
    AtomicBoolean complete = new AtomicBoolean();
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/counter.qcow2", exchange -> {
      exchange.sendResponseHeaders(200, image.length);
      try (OutputStream body = exchange.getResponseBody()) {
        int part = (image.length + PARTS - 1) / PARTS;
        for (int offset = 0; offset < image.length; offset += part) {
          int length = Math.min(part, image.length - offset);
          body.write(image, offset, length);
          body.flush();
          sent.addAndGet(length);
          sleep(PAUSE);
        }
      } catch (IOException e) {
        return; // the reader went away: never complete
      }
      complete.set(true);
    });
    server.start();
    try (KvmNodes nodes = KvmNodes.start(work.resolve("nodes"), "stop-1"); LibvirtDriver libvirt = new LibvirtDriver()) {
      Host host = nodes.host("stop-1");
      NodeRegistration.register(host, "1Gi", CLASS);
      client.resource(TestManifests.hypervisorClass(CLASS, "libvirt", "qemu+tcp://{node.address}/system")).serverSideApply();
      client.resource(TestManifests.localStorageClass(STORAGE)).serverSideApply();
      String namespace = RealApiServer.newNamespace("stop");
      String leases = RealApiServer.newNamespace("stop-lease");
      // As the chart runs it: with leader election, whose Lease is not renewed while it stops.
      OperatorProcess operator = OperatorProcess.start(work.resolve("operator"),
          Map.of("POLYVISOR_NAMESPACE", leases, "POLYVISOR_STOP_TIMEOUT_SECONDS", "12"));
      try {
        String manifest = TestManifests.counterVm("slow-disk", CLASS, "Always", "32Mi", STORAGE, Path.of("/unused"))
            .replace("file:///unused", "http://127.0.0.1:" + server.getAddress().getPort() + "/counter.qcow2");
        VirtualMachine vm = client.resource(client.getKubernetesSerialization().unmarshal(manifest, VirtualMachine.class))
            .inNamespace(namespace).create();
        await().atMost(Duration.ofSeconds(60)).until(() -> sent.get() > 0);
        assertThat(complete).as("still downloading when told to stop").isFalse();

        Optional<Duration> exited = operator.terminate(Duration.ofSeconds(30));

        assertThat(exited).as("exited by itself, within its stop timeout and the closing of its connections").isPresent();
        assertThat(exited.get()).isLessThan(Duration.ofSeconds(25));
        assertThat(complete).as("the image was read to its end").isTrue();
        // The reconciliation went on after the download, as it would have without the SIGTERM.
        assertThat(libvirt.find(host, vm.getMetadata().getUid())).as("the guest defined before the exit").map(GuestInfo::id).isPresent();
        assertThat(operator.output()).contains("Polyvisor operator stopped");
      } finally {
        operator.kill();
        client.resources(VirtualMachine.class).inNamespace(namespace).delete();
        OperatorProcess cleaner = OperatorProcess.start(work.resolve("cleaner"), Map.of());
        try {
          await().atMost(Duration.ofSeconds(60))
              .until(() -> client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems().isEmpty());
        } finally {
          cleaner.close();
        }
      }
    } finally {
      server.stop(0);
    }
  }

  private static void sleep(Duration duration) {
    try {
      Thread.sleep(duration.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
