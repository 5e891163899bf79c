package io.polyvisor.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.api.v1alpha1.VirtualMachineStatus;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.libvirt.LibvirtDriver;
import io.polyvisor.testing.CounterGuest;
import io.polyvisor.testing.KvmNodes;
import io.polyvisor.testing.LibvirtCerts;
import io.polyvisor.testing.NodeRegistration;
import io.polyvisor.testing.OperatorProcess;
import io.polyvisor.testing.RealApiServer;
import io.polyvisor.testing.TestManifests;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * libvirt over TLS end to end: two real libvirtd nodes with TLS listeners and certificates made
 * for this run, the operator as its own process reaching them only by {@code qemu+tls://} with
 * the client certificate from its class's Secret, real QEMU guests run and live-migrated with an
 * encrypted stream; and classes whose Secret holds an expired certificate or another CA.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LibvirtTlsIT {

  private static final String CLASS = "it-tls";
  private static final String EXPIRED = "it-tls-expired";
  private static final String FOREIGN = "it-tls-foreign";
  private static final String STORAGE = "it-tls-local";
  private static final String SECRETS = "polyvisor-it-tls";
  private static final List<String> NODES = List.of("tls-1", "tls-2");

  @TempDir static Path work;
  private static KubernetesClient client;
  private static LibvirtCerts certs;
  private static KvmNodes nodes;
  private static Path image;
  private static OperatorProcess operator;
  private static LibvirtDriver libvirt;
  private static String namespace;

  @BeforeAll
  static void startEverything() throws Exception {
    client = RealApiServer.client();
    certs = LibvirtCerts.make(work.resolve("certs"));
    nodes = KvmNodes.start(work.resolve("nodes"), Map.of("POLYVISOR_NODE_TLS", certs.folder().toString()), NODES.toArray(String[]::new));
    for (String node : NODES) {
      NodeRegistration.register(nodes.tlsHost(node, "127.0.0.1"), "1Gi", CLASS);
    }
    // The same daemons under another name (the server certificate has both), so that each bad
    // class has connections of its own.
    NodeRegistration.register(new Host("tls-expired", nodes.tlsHost("tls-1", "localhost").endpoint()), "1Gi", EXPIRED);
    NodeRegistration.register(new Host("tls-foreign", nodes.tlsHost("tls-2", "localhost").endpoint()), "1Gi", FOREIGN);
    client.resource(new NamespaceBuilder().withNewMetadata().withName(SECRETS).endMetadata().build()).serverSideApply();
    secret("good", certs.secretData("cacert.pem", "clientcert.pem", "clientkey.pem"));
    secret("expired", certs.secretData("cacert.pem", "expired/clientcert.pem", "expired/clientkey.pem"));
    // Another CA, with a client certificate of its own: the operator does not trust the nodes' certificate.
    secret("foreign", certs.secretData("foreign/cacert.pem", "foreign/clientcert.pem", "foreign/clientkey.pem"));
    client.resource(TestManifests.tlsHypervisorClass(CLASS, SECRETS, "good")).serverSideApply();
    client.resource(TestManifests.tlsHypervisorClass(EXPIRED, SECRETS, "expired")).serverSideApply();
    client.resource(TestManifests.tlsHypervisorClass(FOREIGN, SECRETS, "foreign")).serverSideApply();
    client.resource(TestManifests.localStorageClass(STORAGE)).serverSideApply();
    image = CounterGuest.build(work);
    libvirt = new LibvirtDriver(); // looks at the nodes over their TCP listeners, as a person would with virsh
    namespace = RealApiServer.newNamespace("tls");
    operator = OperatorProcess.start(work.resolve("operator"), Map.of(
        "POLYVISOR_CONSOLE_LOG_DIR", work.toString(),
        "POLYVISOR_LIBVIRT_PKI_DIR", work.resolve("pki").toString(),
        "POLYVISOR_LOG_LEVEL", "DEBUG"));
  }

  @AfterAll
  static void stopEverything() throws Exception {
    if (operator != null && namespace != null) {
      // The bad classes get good certificates, so that their VMs' finalizers can prove the hosts empty.
      secret("expired", certs.secretData("cacert.pem", "clientcert.pem", "clientkey.pem"));
      secret("foreign", certs.secretData("cacert.pem", "clientcert.pem", "clientkey.pem"));
      client.resources(VirtualMachine.class).inNamespace(namespace).delete();
      await().atMost(Duration.ofSeconds(120))
          .until(() -> client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems().isEmpty());
    }
    if (operator != null) {
      operator.close();
    }
    if (libvirt != null) {
      libvirt.close();
    }
    if (nodes != null) {
      nodes.close();
    }
  }

  @Test
  @Order(1)
  void guestsRunAndLiveMigrateOverTlsWithTheCertificatesOfTheClassesSecret() throws Exception {
    VirtualMachine vm = create(TestManifests.counterVm("over-tls", CLASS, "Always", "32Mi", STORAGE, image));
    await().atMost(Duration.ofSeconds(90)).until(() -> phase(vm) == VirtualMachinePhase.Running);
    String source = get(vm).getStatus().nodeName;
    String target = NODES.stream().filter(n -> !n.equals(source)).findFirst().orElseThrow();
    assertThat(libvirt.find(nodes.host(source), uid(vm))).map(GuestInfo::state).contains(GuestState.RUNNING);
    Path console = work.resolve(namespace + "_over-tls.log");
    await().atMost(Duration.ofSeconds(30)).until(() -> CounterGuest.readCount(console).size() >= 10);

    // The client files are where libvirt reads them, readable by the operator's user alone.
    Path secretFolder = work.resolve("pki").resolve(SECRETS).resolve("good");
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(secretFolder))).isEqualTo("rwx------");
    Path pki;
    try (var versions = Files.list(secretFolder)) {
      pki = versions.collect(java.util.stream.Collectors.toList()).stream().reduce((a, b) -> {
        throw new AssertionError("one version of the Secret's files, not " + a + " and " + b);
      }).orElseThrow();
    }
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(pki))).isEqualTo("rwx------");
    for (String file : List.of("cacert.pem", "clientcert.pem", "clientkey.pem")) {
      assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(pki.resolve(file)))).as(file).isEqualTo("rw-------");
    }
    assertThat(Files.readString(pki.resolve("clientkey.pem"))).isEqualTo(certs.read("clientkey.pem"));

    VirtualMachineMigration migration = client.resource(migration(vm, target)).inNamespace(namespace).create();
    VirtualMachineMigration ended = await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofMillis(500))
        .until(() -> client.resource(migration).get(), m -> m.getStatus() != null && m.getStatus().phase != null && m.getStatus().phase.isFinal());
    assertThat(ended.getStatus().phase).as(ended.getStatus().message).isEqualTo(MigrationPhase.Succeeded);
    assertThat(libvirt.find(nodes.host(target), uid(vm))).map(GuestInfo::state).contains(GuestState.RUNNING);
    assertThat(libvirt.find(nodes.host(source), uid(vm))).as("nothing left on the source").isEmpty();
    int before = CounterGuest.readCount(console).size();
    await().atMost(Duration.ofSeconds(30)).until(() -> CounterGuest.readCount(console).size() >= before + 10);
    CounterGuest.assertContinuous(CounterGuest.readCount(console));
    // Each QEMU was given x509 credentials for the stream: the target's to listen, the source's to connect.
    for (String node : NODES) {
      assertThat(Files.readString(nodes.libvirtdLog(node))).as("libvirtd log of %s", node).contains("\"qom-type\":\"tls-creds-x509\"");
    }
  }

  @Test
  @Order(2)
  void anExpiredCertificateOrAnotherCaIsSaidOnTheVmsOfTheClassAndNothingIsDefined() {
    VirtualMachine expired = create(TestManifests.counterVm("expired-cert", EXPIRED, "Always", "32Mi", STORAGE, image));
    VirtualMachine foreign = create(TestManifests.counterVm("foreign-ca", FOREIGN, "Always", "32Mi", STORAGE, image));

    assertThat(awaitNotReady(expired)).contains("tls-expired").contains("certificate").contains("has expired");
    assertThat(awaitNotReady(foreign)).contains("tls-foreign").contains("Failed to verify peer's certificate");
    for (String node : NODES) {
      assertThat(libvirt.find(nodes.host(node), uid(expired))).isEmpty();
      assertThat(libvirt.find(nodes.host(node), uid(foreign))).isEmpty();
    }
  }

  @Test
  @Order(3)
  void noKeyAppearsInTheOperatorsLogInEventsOrInStatus() throws Exception {
    List<String> secrets = new ArrayList<>();
    for (String key : List.of("clientkey.pem", "expired/clientkey.pem", "foreign/clientkey.pem")) {
      // Every line of the key's body: a part of a key is as bad as the whole.
      certs.read(key).lines().filter(line -> !line.startsWith("-----")).forEach(secrets::add);
    }
    String log = operator.output();
    String events = client.getKubernetesSerialization().asYaml(client.v1().events().inAnyNamespace().list());
    String vms = client.getKubernetesSerialization().asYaml(client.resources(VirtualMachine.class).inAnyNamespace().list());
    String migrations = client.getKubernetesSerialization().asYaml(client.resources(VirtualMachineMigration.class).inAnyNamespace().list());
    assertThat(log).as("the operator's log").contains("connected to tls-1"); // it did log about these hosts
    for (String line : secrets) {
      assertThat(log).as("the operator's log").doesNotContain(line);
      assertThat(events).as("Events").doesNotContain(line);
      assertThat(vms).as("VM status").doesNotContain(line);
      assertThat(migrations).as("migrations").doesNotContain(line);
    }
  }

  private static String awaitNotReady(VirtualMachine vm) {
    return await().atMost(Duration.ofSeconds(90)).until(() -> readyCondition(vm)
            .filter(c -> "HostUnreachable".equals(c.getReason())).map(c -> c.getMessage()), Optional::isPresent)
        .orElseThrow();
  }

  private static Optional<io.fabric8.kubernetes.api.model.Condition> readyCondition(VirtualMachine vm) {
    VirtualMachine current = get(vm);
    if (current.getStatus() == null || current.getStatus().conditions == null) {
      return Optional.empty();
    }
    return current.getStatus().conditions.stream().filter(c -> VirtualMachineStatus.READY.equals(c.getType())).findFirst();
  }

  private static void secret(String name, Map<String, String> data) {
    client.resource(new SecretBuilder().withNewMetadata().withName(name).withNamespace(SECRETS).endMetadata()
        .withType("kubernetes.io/tls").withData(data).build()).serverSideApply();
  }

  private static VirtualMachineMigration migration(VirtualMachine vm, String target) {
    return client.getKubernetesSerialization().unmarshal("""
        apiVersion: polyvisor.io/v1alpha1
        kind: VirtualMachineMigration
        metadata:
          name: %s-to-%s
        spec:
          vmName: %s
          targetNode: %s
        """.formatted(vm.getMetadata().getName(), target, vm.getMetadata().getName(), target), VirtualMachineMigration.class);
  }

  private static VirtualMachine create(String manifest) {
    VirtualMachine vm = client.getKubernetesSerialization().unmarshal(manifest, VirtualMachine.class);
    return client.resource(vm).inNamespace(namespace).create();
  }

  private static VirtualMachine get(VirtualMachine vm) {
    return client.resources(VirtualMachine.class).inNamespace(namespace).withName(vm.getMetadata().getName()).get();
  }

  private static VirtualMachinePhase phase(VirtualMachine vm) {
    VirtualMachine current = get(vm);
    return current.getStatus() == null ? null : current.getStatus().phase;
  }

  private static String uid(VirtualMachine vm) {
    return vm.getMetadata().getUid();
  }
}
