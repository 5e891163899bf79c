package io.polyvisor.testing;

import io.fabric8.kubeapitest.KubeAPIServer;
import io.fabric8.kubeapitest.KubeAPIServerConfigBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.apiextensions.v1.CustomResourceDefinition;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * One real etcd + kube-apiserver for the whole test JVM, started on first use from the binaries
 * that {@code testbed/k8s-binaries} built (offline: nothing is downloaded), with the project's
 * generated CRDs installed. Tests share it and isolate themselves by namespace.
 */
public final class RealApiServer {

  private static KubeAPIServer server;
  private static KubernetesClient client;

  private RealApiServer() {}

  /** A client of the shared API server, starting it and installing the CRDs on first call. */
  public static synchronized KubernetesClient client() {
    if (client == null) {
      start();
    }
    return client;
  }

  /** A kubeconfig for the shared API server, for command-line tools such as kubectl and helm. */
  public static synchronized String kubeconfigYaml() {
    client();
    return server.getKubeConfigYaml();
  }

  /** One of the built Kubernetes binaries (kubectl, helm, etcd, kube-apiserver, ...). */
  public static Path binary(String name) {
    return Path.of(testDir(), "k8s", property("KUBE_API_TEST_API_SERVER_VERSION") + "-linux-amd64", name);
  }

  /** The folder of the binaries and of the test certificates (the API server's and a client's). */
  public static String testDir() {
    return property("KUBE_API_TEST_DIR");
  }

  /** A fresh namespace with a unique name derived from {@code prefix}. */
  public static String newNamespace(String prefix) {
    String name = prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    client().namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(name).endMetadata().build()).create();
    return name;
  }

  private static void start() {
    String dir = property("KUBE_API_TEST_DIR");
    String version = property("KUBE_API_TEST_API_SERVER_VERSION");
    Path binaries = Path.of(dir, "k8s", version + "-linux-amd64");
    if (!Files.isExecutable(binaries.resolve("kube-apiserver"))) {
      throw new IllegalStateException(
          "No kube-apiserver in " + binaries + ": run testbed/k8s-binaries first (the test command"
              + " testbed/test does it for you).");
    }
    server =
        new KubeAPIServer(
            KubeAPIServerConfigBuilder.anAPIServerConfig()
                .withTestDir(dir)
                .withApiServerVersion(version)
                .withOfflineMode(true)
                .withUpdateKubeConfig(false)
                .build());
    server.start();
    Runtime.getRuntime().addShutdownHook(new Thread(RealApiServer::stop, "stop-kube-apiserver"));
    KubernetesClient started =
        new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(server.getKubeConfigYaml())).build();
    // Publish the client only once the CRDs are served, so that a schema the API server refuses
    // fails every test with that reason rather than with confusing follow-up errors.
    installCrds(started);
    client = started;
  }

  /** Applies every generated CRD and waits until the API server serves it. */
  static void installCrds(KubernetesClient client) {
    Path folder = Path.of(property("polyvisor.generatedCrds"));
    List<Path> files;
    try (Stream<Path> listing = Files.list(folder)) {
      files = listing.filter(p -> p.toString().endsWith("-v1.yml")).sorted().toList();
    } catch (IOException e) {
      throw new IllegalStateException("cannot read generated CRDs in " + folder, e);
    }
    for (Path file : files) {
      CustomResourceDefinition crd;
      try (InputStream in = Files.newInputStream(file)) {
        crd = client.getKubernetesSerialization().unmarshal(in, CustomResourceDefinition.class);
      } catch (IOException e) {
        throw new IllegalStateException("cannot read " + file, e);
      }
      client.apiextensions().v1().customResourceDefinitions().resource(crd).serverSideApply();
      client
          .apiextensions()
          .v1()
          .customResourceDefinitions()
          .withName(crd.getMetadata().getName())
          .waitUntilCondition(RealApiServer::established, 30, TimeUnit.SECONDS);
    }
  }

  private static boolean established(CustomResourceDefinition crd) {
    return crd != null
        && crd.getStatus() != null
        && crd.getStatus().getConditions() != null
        && crd.getStatus().getConditions().stream()
            .anyMatch(c -> "Established".equals(c.getType()) && "True".equals(c.getStatus()));
  }

  private static String property(String name) {
    String value = System.getProperty(name, System.getenv(name));
    if (value == null) {
      throw new IllegalStateException(name + " is not set; run the tests through Maven (testbed/test)");
    }
    return value;
  }

  private static synchronized void stop() {
    if (client != null) {
      client.close();
    }
    if (server != null) {
      server.stop();
    }
  }
}
