package io.polyvisor.drain;

import io.polyvisor.testing.RealApiServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/** The real {@code kubectl drain}, run in the background against the shared API server. */
final class KubectlDrain implements AutoCloseable {

  private final Process process;
  private final Path output;

  private KubectlDrain(Process process, Path output) {
    this.process = process;
    this.output = output;
  }

  /** Starts {@code kubectl drain <node> --ignore-daemonsets --timeout=<timeout>s}. */
  static KubectlDrain start(Path folder, String node, Duration timeout) throws IOException {
    Files.createDirectories(folder);
    Path kubeconfig = folder.resolve("kubeconfig");
    Files.writeString(kubeconfig, RealApiServer.kubeconfigYaml());
    Path output = Files.createTempFile(folder, "drain-" + node + "-", ".log");
    Process process = new ProcessBuilder(RealApiServer.binary("kubectl").toString(), "--kubeconfig", kubeconfig.toString(),
            "drain", node, "--ignore-daemonsets", "--timeout=" + timeout.toSeconds() + "s")
        .redirectErrorStream(true)
        .redirectOutput(output.toFile())
        .start();
    return new KubectlDrain(process, output);
  }

  boolean isRunning() {
    return process.isAlive();
  }

  /** Waits for kubectl to exit and returns its exit code. */
  int awaitExit(Duration atMost) throws InterruptedException {
    if (!process.waitFor(atMost.toMillis(), TimeUnit.MILLISECONDS)) {
      throw new AssertionError("kubectl drain still runs after " + atMost + ":\n" + output());
    }
    return process.exitValue();
  }

  String output() {
    try {
      return Files.readString(output);
    } catch (IOException e) {
      return "(cannot read kubectl's output: " + e.getMessage() + ")";
    }
  }

  @Override
  public void close() {
    process.destroyForcibly();
  }
}
