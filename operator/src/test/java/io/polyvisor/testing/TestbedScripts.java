package io.polyvisor.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs the project's testbed scripts from tests, failing the test with their output when they fail. */
final class TestbedScripts {

  private TestbedScripts() {}

  /**
   * @param script a path under the repository, such as {@code testbed/guests/counter/build}
   * @param what what the script does, for the failure message
   */
  static void run(String script, Duration timeout, String what, String... arguments) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of(KvmNodes.REPO.resolve(script).toString()));
    command.addAll(List.of(arguments));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(process.waitFor(timeout.toSeconds(), TimeUnit.SECONDS)).as("%s within %s", what, timeout).isTrue();
    assertThat(process.exitValue()).as("%s:\n%s", what, output).isZero();
  }
}
