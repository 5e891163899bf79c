package io.polyvisor.testing;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * The operator as its own JVM, run from the packaged classes (target/classes and target/lib), so
 * that a test can SIGKILL it mid-operation the way a node failure would, then start another.
 */
public final class OperatorProcess implements AutoCloseable {

  private static final Path TARGET = KvmNodes.REPO.resolve("operator/target");
  private final Process process;
  private final Path log;

  private OperatorProcess(Process process, Path log) {
    this.process = process;
    this.log = log;
  }

  public static OperatorProcess start(Path folder, Map<String, String> environment) throws IOException {
    return start(folder, environment, RealApiServer.kubeconfigYaml());
  }

  /**
   * Starts an operator that reaches the API server through {@code kubeconfigYaml} (a proxy in
   * front of the shared API server, say) instead of the shared server's own kubeconfig.
   */
  public static OperatorProcess start(Path folder, Map<String, String> environment, String kubeconfigYaml) throws IOException {
    Files.createDirectories(folder);
    Path kubeconfig = folder.resolve("kubeconfig");
    Files.writeString(kubeconfig, kubeconfigYaml);
    // Kept under target/ so that a failed test's operator log can be read afterwards.
    Path logs = Files.createDirectories(TARGET.resolve("operator-logs"));
    Path log = Files.createTempFile(logs, "operator-", ".log");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder builder =
        new ProcessBuilder(java, "-cp", TARGET.resolve("classes") + ":" + TARGET.resolve("lib") + "/*",
                "io.polyvisor.operator.PolyvisorOperator")
            .redirectErrorStream(true)
            .redirectOutput(log.toFile());
    builder.environment().put("KUBECONFIG", kubeconfig.toString());
    // Several operators run at once in the tests: each takes a free port for its endpoints.
    builder.environment().put("POLYVISOR_HTTP_PORT", "0");
    builder.environment().putAll(environment);
    OperatorProcess operator = new OperatorProcess(builder.start(), log);
    try {
      await().atMost(Duration.ofSeconds(60)).until(() -> operator.output().contains("HTTP endpoints (/healthz, /readyz, /metrics) on port"));
    } catch (RuntimeException e) {
      operator.kill(); // never leave a process behind that the caller has no handle on
      throw e;
    }
    return operator;
  }

  /** The operator JVM's process id. */
  public long pid() {
    return process.pid();
  }

  /** Whether the operator JVM still runs (it exits by itself when it loses its lease). */
  public boolean alive() {
    return process.isAlive();
  }

  /** Where the operator's output goes. */
  public Path log() {
    return log;
  }

  /**
   * SIGTERM, as Kubernetes stops a pod, then waits up to {@code within} for the process to exit by
   * itself; returns how long it took, or empty (and SIGKILLs it) when it did not exit in time.
   */
  public java.util.Optional<Duration> terminate(Duration within) throws InterruptedException {
    long start = System.nanoTime();
    process.destroy();
    if (process.waitFor(within.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
      return java.util.Optional.of(Duration.ofNanos(System.nanoTime() - start));
    }
    kill();
    return java.util.Optional.empty();
  }

  /** SIGKILL: no shutdown hook, no graceful close of connections, as if the machine died. */
  public void kill() {
    process.destroyForcibly();
    try {
      process.waitFor();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** SIGSTOP: the process stops answering anything, as in a long pause or a network partition. */
  public void freeze() throws IOException, InterruptedException {
    signal("STOP");
  }

  /** SIGCONT after {@link #freeze()}. */
  public void thaw() throws IOException, InterruptedException {
    signal("CONT");
  }

  private void signal(String name) throws IOException, InterruptedException {
    new ProcessBuilder("kill", "-" + name, String.valueOf(process.pid())).inheritIO().start().waitFor();
  }

  /** The port of its HTTP endpoints (/healthz, /readyz, /metrics), as it logged it at start. */
  public int httpPort() throws IOException {
    java.util.regex.Matcher port = java.util.regex.Pattern.compile("/metrics\\) on port (\\d+)").matcher(output());
    if (!port.find()) {
      throw new IllegalStateException("the operator has not said its HTTP port; see " + log);
    }
    return Integer.parseInt(port.group(1));
  }

  /** What its /metrics says now, in Prometheus' text format. */
  public String metrics() throws IOException, InterruptedException {
    java.net.http.HttpResponse<String> metrics = java.net.http.HttpClient.newHttpClient().send(
        java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + httpPort() + "/metrics")).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString());
    if (metrics.statusCode() != 200) {
      throw new IllegalStateException("/metrics answered " + metrics.statusCode() + "; see " + log);
    }
    return metrics.body();
  }

  /**
   * Its requests to the API server so far, by verb and resource ("POST events"), whatever the
   * answer, from its own count ({@code polyvisor_api_requests_total}).
   */
  public Map<String, Integer> apiRequests() throws IOException, InterruptedException {
    Map<String, Integer> requests = new java.util.TreeMap<>();
    java.util.regex.Matcher m = API_REQUESTS.matcher(metrics());
    while (m.find()) {
      requests.merge(m.group(2) + " " + m.group(1), (int) Double.parseDouble(m.group(3)), Integer::sum);
    }
    return requests;
  }

  private static final java.util.regex.Pattern API_REQUESTS = java.util.regex.Pattern.compile(
      "polyvisor_api_requests_total\\{code=\"[^\"]*\",resource=\"([^\"]+)\",verb=\"([^\"]+)\",?} ([0-9.E+]+)");

  public String output() throws IOException {
    return Files.readString(log);
  }

  @Override
  public void close() {
    process.destroy();
    try {
      if (!process.waitFor(java.util.concurrent.TimeUnit.SECONDS.toMillis(20), java.util.concurrent.TimeUnit.MILLISECONDS)) {
        kill();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
