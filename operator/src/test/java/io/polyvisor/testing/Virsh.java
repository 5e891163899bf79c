package io.polyvisor.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.polyvisor.driver.Host;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * libvirt's own command-line client, for tests that set up a condition or read a figure the
 * operator does not (the operator itself never shells out to virsh).
 */
public final class Virsh {

  private Virsh() {}

  /** Runs {@code virsh -c <host's endpoint> <arguments>} and returns what it printed. */
  public static String run(Host host, String... arguments) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of("virsh", "-c", host.endpoint()));
    command.addAll(List.of(arguments));
    Process virsh = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(virsh.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(virsh.waitFor()).as("virsh %s: %s", String.join(" ", arguments), output).isZero();
    return output;
  }

  /**
   * Lowers the pause the outgoing migration of the guest may take at the switch-over to 1 ms, so
   * that pre-copy never finishes while the guest keeps dirtying memory: a guest too busy for its
   * link, made certain.
   */
  public static void allowNoDowntime(Host source, String uid) throws IOException, InterruptedException {
    run(source, "migrate-setmaxdowntime", uid, "1");
  }

  /**
   * Caps the outgoing migration of the guest at {@code bytesPerSecond}, below libvirt's own unit
   * (whole MiB/s), through QEMU's monitor: at 1 KiB/s even an idle guest's first pass over its
   * memory takes minutes, so a test can act on a transfer certain to be under way. A test-only
   * tool: libvirt marks the guest tainted for it.
   */
  public static void capMigrationBandwidth(Host source, String uid, long bytesPerSecond) throws IOException, InterruptedException {
    run(source, "qemu-monitor-command", uid,
        "{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"max-bandwidth\":" + bytesPerSecond + "}}");
  }

  /** Starts a defined guest with its vCPUs paused, as a copy that never ran. */
  public static void startPaused(Host host, String uid) throws IOException, InterruptedException {
    run(host, "start", "--paused", uid);
  }
}
