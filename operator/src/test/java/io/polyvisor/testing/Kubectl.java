package io.polyvisor.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The real kubectl against the shared API server, with the repository's bin (where kubectl-polyvisor is) first on the PATH. */
public final class Kubectl {

  /** What one command printed, and its exit code. */
  public record Run(int exit, String out, String err) {}

  private final Path work;
  private final Path kubeconfig;

  /** Keeps its kubeconfig and each command's output under {@code work}. */
  public Kubectl(Path work) throws IOException {
    this.work = work;
    this.kubeconfig = work.resolve("kubeconfig");
    Files.writeString(kubeconfig, RealApiServer.kubeconfigYaml());
  }

  public Run run(String... args) {
    try {
      List<String> command = new ArrayList<>(List.of(RealApiServer.binary("kubectl").toString()));
      command.addAll(List.of(args));
      ProcessBuilder builder = new ProcessBuilder(command);
      builder.environment().put("KUBECONFIG", kubeconfig.toString());
      builder.environment().put("PATH", KvmNodes.REPO.resolve("bin") + ":" + System.getenv("PATH"));
      Path out = Files.createTempFile(work, "out", ".txt");
      Path err = Files.createTempFile(work, "err", ".txt");
      Process process = builder.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
      assertThat(process.waitFor(240, TimeUnit.SECONDS)).as("kubectl %s ended", String.join(" ", args)).isTrue();
      return new Run(process.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new IllegalStateException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
