package io.polyvisor.testing;

import io.fabric8.kubeapitest.cert.CertManager;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * An etcd and a kube-apiserver of a test's own, whose API server can be killed and started again
 * on the same port and the same etcd: a real API server restart, which the shared
 * {@link RealApiServer} cannot offer (its library stops etcd when its API server dies). Same
 * binaries, certificates and flags as the shared one, and the project's CRDs installed.
 */
public final class RestartableApiServer implements AutoCloseable {

  private final Path folder;
  private final CertManager certificates;
  private final int etcdPort;
  private final int port;
  private Process etcd;
  private Process apiServer;
  private KubernetesClient client;

  private RestartableApiServer(Path folder) throws IOException {
    this.folder = Files.createDirectories(folder);
    this.certificates = new CertManager(RealApiServer.testDir());
    certificates.createCertificatesIfNeeded();
    this.etcdPort = freePort();
    this.port = freePort();
  }

  /** Starts etcd and the API server, and installs the CRDs. */
  public static RestartableApiServer start(Path folder) throws IOException, InterruptedException {
    RestartableApiServer server = new RestartableApiServer(folder);
    try {
      server.startEtcd();
      server.startApiServer();
      server.client = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(server.kubeconfigYaml())).build();
      RealApiServer.installCrds(server.client);
      return server;
    } catch (IOException | InterruptedException | RuntimeException e) {
      server.close();
      throw e;
    }
  }

  /** A client of this API server; it reconnects by itself after a restart (the port stays). */
  public KubernetesClient client() {
    return client;
  }

  /** A kubeconfig for this API server, with the shared test certificates. */
  public String kubeconfigYaml() {
    return """
        apiVersion: v1
        kind: Config
        clusters:
        - name: restartable
          cluster:
            certificate-authority: %s
            server: https://127.0.0.1:%d
        contexts:
        - name: restartable
          context: {cluster: restartable, user: restartable, namespace: default}
        current-context: restartable
        users:
        - name: restartable
          user:
            client-certificate: %s
            client-key: %s
        """.formatted(certificates.getAPIServerCertPath(), port, certificates.getClientCertPath(),
        certificates.getClientKeyPath());
  }

  /** A fresh namespace with a unique name derived from {@code prefix}. */
  public String newNamespace(String prefix) {
    String name = prefix + "-" + java.util.UUID.randomUUID().toString().substring(0, 8);
    client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(name).endMetadata().build()).create();
    return name;
  }

  /** SIGKILL of the API server: every connection and watch breaks, requests are refused. */
  public synchronized void kill() throws InterruptedException {
    if (apiServer != null) {
      apiServer.destroyForcibly();
      apiServer.waitFor();
      apiServer = null;
    }
  }

  /** Starts the API server again on the same port and etcd, and waits until it serves. */
  public synchronized void startAgain() throws IOException, InterruptedException {
    if (apiServer == null) {
      startApiServer();
    }
  }

  private void startEtcd() throws IOException, InterruptedException {
    Path data = Files.createDirectories(folder.resolve("etcd"));
    String client = "http://127.0.0.1:" + etcdPort;
    String peer = "http://127.0.0.1:" + freePort();
    etcd = launch("etcd", List.of(RealApiServer.binary("etcd").toString(),
        "--data-dir", data.toString(),
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
        "--initial-cluster", "default=" + peer));
  }

  private void startApiServer() throws IOException, InterruptedException {
    String key = certificates.getAPIServerKeyPath();
    apiServer = launch("kube-apiserver", List.of(RealApiServer.binary("kube-apiserver").toString(),
        "--cert-dir", RealApiServer.testDir(),
        "--secure-port", Integer.toString(port),
        "--etcd-servers", "http://127.0.0.1:" + etcdPort,
        "--authorization-mode", "RBAC",
        "--service-account-issuer", "https://localhost",
        "--service-account-signing-key-file", key,
        "--service-account-key-file", key,
        "--disable-admission-plugins", "ServiceAccount",
        "--client-ca-file", certificates.getClientCertPath(),
        "--service-cluster-ip-range", "10.0.0.0/24",
        "--allow-privileged"));
    awaitReady();
  }

  /** Waits until {@code /readyz} answers and the default namespace exists, as kube-api-test does. */
  private void awaitReady() throws InterruptedException {
    Instant deadline = Instant.now().plus(Duration.ofSeconds(90));
    try (KubernetesClient probe = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(kubeconfigYaml())).build()) {
      while (true) {
        try {
          if ("ok".equals(probe.raw("/readyz")) && probe.namespaces().withName("default").get() != null) {
            return;
          }
        } catch (RuntimeException notYet) {
          // starting
        }
        if (!apiServer.isAlive() || Instant.now().isAfter(deadline)) {
          throw new IllegalStateException("kube-apiserver did not become ready on port " + port + "; see "
              + folder.resolve("kube-apiserver.log"));
        }
        Thread.sleep(200);
      }
    }
  }

  private Process launch(String name, List<String> command) throws IOException {
    Path log = folder.resolve(name + ".log");
    return new ProcessBuilder(command).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  @Override
  public synchronized void close() {
    if (client != null) {
      client.close();
    }
    for (Process process : new Process[] {apiServer, etcd}) {
      if (process != null) {
        process.destroy();
        try {
          if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor();
          }
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }
  }
}
