package io.polyvisor.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.polyvisor.driver.Host;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Simulated KVM hosts for a test: real libvirtd daemons started by {@code testbed/kvm-node}, each
 * in its own mount namespace and state folder, running real QEMU guests. Stopped (guests and all)
 * by {@link #close()}.
 */
public final class KvmNodes implements AutoCloseable {

  public static final Path REPO = Path.of(System.getProperty("polyvisor.repoRoot")).toAbsolutePath().normalize();

  private final Path folder;
  private final Map<String, String> environment;
  private final Map<String, Integer> ports = new LinkedHashMap<>();

  private KvmNodes(Path folder, Map<String, String> environment) {
    this.folder = folder;
    this.environment = Map.copyOf(environment);
  }

  /** Starts one node per name, state under {@code folder}. */
  public static KvmNodes start(Path folder, String... names) {
    return start(folder, Map.of(), names);
  }

  /**
   * Starts one node per name with settings of testbed/kvm-node in {@code environment} (such as
   * {@code POLYVISOR_LOCK_MANAGER=lockd}), which every later restart of a node keeps.
   */
  public static KvmNodes start(Path folder, Map<String, String> environment, String... names) {
    KvmNodes nodes = new KvmNodes(folder, environment);
    try {
      for (String name : names) {
        nodes.ports.put(name, freePort());
        nodes.startNode(name);
      }
    } catch (RuntimeException e) {
      nodes.close();
      throw e;
    }
    return nodes;
  }

  public Host host(String name) {
    return new Host(name, "qemu+tcp://127.0.0.1:" + ports.get(name) + "/system");
  }

  /**
   * The node's TLS endpoint, one port above its TCP one, for nodes started with {@code
   * POLYVISOR_NODE_TLS} (see testbed/kvm-node); {@code address} is 127.0.0.1 or localhost, the
   * names the testbed's server certificate carries.
   */
  public Host tlsHost(String name, String address) {
    return new Host(name, "qemu+tls://" + address + ":" + (ports.get(name) + 1) + "/system");
  }

  public List<Host> hosts() {
    return ports.keySet().stream().map(this::host).toList();
  }

  /** The node's private /var/lib/libvirt, as seen from outside its namespace. */
  public Path libDir(String name) {
    return folder.resolve(name).resolve("lib");
  }

  /** The node's libvirtd log (warnings, and for TLS nodes the commands sent to QEMU). */
  public Path libvirtdLog(String name) {
    return folder.resolve(name).resolve("libvirtd.log");
  }

  /**
   * Makes the next guest QEMU that the node starts hang as soon as it has started: a libvirt
   * {@code qemu} hook SIGSTOPs it on its {@code started} step, so what libvirtd asks of it next
   * (for an incoming migration, its whole Prepare step) waits for ever, as on a host whose QEMU is
   * stuck on storage. The node's libvirtd is restarted first, guests running on, when the hook is
   * new to it (libvirtd looks for hooks only when it starts). One guest only: the hook disarms
   * itself. The stopped QEMU's pid is written to {@code frozen-qemu.pid} in the node's folder.
   */
  public void freezeNextStartedQemu(String name) throws IOException {
    Path node = folder.resolve(name);
    Path hook = node.resolve("etc/hooks/qemu");
    Path armed = node.resolve("freeze-next-qemu");
    boolean installed = Files.exists(hook);
    Files.createDirectories(hook.getParent());
    Files.writeString(hook, String.join("\n",
        "#!/bin/bash",
        "# $1 guest, $2 step: the guest's pid file exists from 'started' on",
        "if [[ \"$2\" == started && -f '" + armed + "' ]]; then",
        "  rm -f '" + armed + "'",
        "  pid=$(cat \"/run/libvirt/qemu/$1.pid\")",
        "  echo \"$pid\" > '" + node.resolve("frozen-qemu.pid") + "'",
        "  kill -STOP \"$pid\"",
        "fi",
        "exit 0",
        ""));
    hook.toFile().setExecutable(true);
    Files.writeString(armed, "");
    if (!installed) {
      killDaemon(name);
      startNode(name);
    }
  }

  /** SIGKILLs the node's libvirtd, leaving its guests running, as a daemon crash would. */
  public void killDaemon(String name) {
    script("kill", name);
  }

  /**
   * SIGSTOPs the node's libvirtd: its sockets stay open and nothing answers on them, keepalive
   * probes included, as with a daemon frozen on storage that stopped answering. Undo with {@link
   * #resumeDaemon}.
   */
  public void pauseDaemon(String name) {
    signalDaemon(name, "STOP");
  }

  /** SIGCONTs the node's libvirtd after {@link #pauseDaemon}: it answers again. */
  public void resumeDaemon(String name) {
    signalDaemon(name, "CONT");
  }

  private void signalDaemon(String name, String signal) {
    try {
      String pid = Files.readString(folder.resolve(name).resolve("libvirtd.pid")).trim();
      Process kill = new ProcessBuilder("kill", "-" + signal, pid).redirectErrorStream(true).start();
      String output = new String(kill.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
        throw new IllegalStateException("kill -" + signal + " " + pid + " (libvirtd of " + name + ") failed: " + output);
      }
    } catch (IOException e) {
      throw new IllegalStateException("cannot signal libvirtd of " + name + ": " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** Stops the node's libvirtd and kills its guests' QEMU processes: the host dies, its definitions stay. */
  public void stopNode(String name) {
    script("stop", name);
  }

  /** Starts the node's libvirtd again on the same port and state; it reattaches to its guests. */
  public void startNode(String name) {
    script("start", name, String.valueOf(ports.get(name)));
  }

  @Override
  public void close() {
    for (String name : ports.keySet()) {
      try {
        script("stop", name);
      } catch (RuntimeException e) {
        System.err.println("stopping " + name + ": " + e.getMessage());
      }
    }
  }

  private String script(String... args) {
    List<String> command = new ArrayList<>();
    command.add(REPO.resolve("testbed/kvm-node").toString());
    command.addAll(List.of(args));
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    builder.environment().putAll(environment);
    builder.environment().put("POLYVISOR_NODES_DIR", folder.toString());
    try {
      Process process = builder.start();
      String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
      if (process.exitValue() != 0) {
        throw new IllegalStateException("testbed/kvm-node " + String.join(" ", args) + " failed:\n" + output);
      }
      return output.trim();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /**
   * A free port between 20000 and 40000: testbed/kvm-node gives each node the 50 migration ports
   * 1000 above its own, which must stay below 65536 and clear of the kernel's ephemeral range.
   */
  private static int freePort() {
    java.util.Random random = new java.util.Random();
    for (int attempt = 0; attempt < 100; attempt++) {
      int port = 20000 + random.nextInt(20000);
      // The next port too: a node started with POLYVISOR_NODE_TLS listens there for TLS.
      try (ServerSocket socket = new ServerSocket(port); ServerSocket tls = new ServerSocket(port + 1)) {
        return socket.getLocalPort();
      } catch (IOException taken) {
        // try another
      }
    }
    throw new IllegalStateException("no free port between 20000 and 40000");
  }
}
