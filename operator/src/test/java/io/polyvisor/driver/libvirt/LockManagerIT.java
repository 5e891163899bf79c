package io.polyvisor.driver.libvirt;

import static org.assertj.core.api.Assertions.assertThat;

import io.polyvisor.driver.Host;
import io.polyvisor.testing.CounterGuest;
import io.polyvisor.testing.KvmNodes;
import io.polyvisor.testing.Virsh;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * libvirt's lock manager on the testbed's nodes (testbed/kvm-node with
 * POLYVISOR_LOCK_MANAGER=lockd, a virtlockd per node and one lockspace folder for all): where
 * two hosts see one disk, libvirt itself refuses to start a second guest on it while the first
 * runs, whatever the operator does. This is the last line of defence against two QEMUs writing
 * one disk on shared storage.
 */
class LockManagerIT {

  @TempDir static Path work;
  private static KvmNodes nodes;

  @BeforeAll
  static void startNodesWithASharedLockspace() {
    nodes = KvmNodes.start(work.resolve("nodes"), Map.of(
        "POLYVISOR_LOCK_MANAGER", "lockd",
        "POLYVISOR_LOCKSPACE_DIR", work.resolve("lockspace").toString()), "lock-1", "lock-2");
  }

  @AfterAll
  static void stopNodes() {
    if (nodes != null) {
      nodes.close();
    }
  }

  @Test
  void aSecondGuestOnADiskThatAnotherNodeRunsIsRefusedToStart() throws Exception {
    Path disk = diskOnBothNodes("second-start.img");
    Host first = nodes.host("lock-1");
    Host second = nodes.host("lock-2");
    Virsh.run(first, "define", domainXml("first", disk).toString());
    Virsh.run(second, "define", domainXml("second", disk).toString());

    Virsh.run(first, "start", "first");
    Result refused = virsh(second, "start", "second");

    assertThat(refused.exitCode()).as("virsh start second: %s", refused.output()).isNotZero();
    assertThat(refused.output()).contains("Lockspace resource").contains("is locked");
    assertThat(Virsh.run(second, "domstate", "second")).contains("shut off");

    // The lease, not the configuration, refused it: once the first is off, the second starts,
    // and now the first is refused.
    Virsh.run(first, "destroy", "first");
    Virsh.run(second, "start", "second");
    assertThat(Virsh.run(second, "domstate", "second")).contains("running");
    Result refusedBack = virsh(first, "start", "first");
    assertThat(refusedBack.exitCode()).as("virsh start first: %s", refusedBack.output()).isNotZero();
    assertThat(refusedBack.output()).contains("is locked");
    Virsh.run(second, "destroy", "second");
  }

  @Test
  void aGuestKeepsItsLeaseWhileItsLibvirtdIsDown() throws Exception {
    Path disk = diskOnBothNodes("daemon-down.img");
    Host first = nodes.host("lock-1");
    Host second = nodes.host("lock-2");
    Virsh.run(first, "define", domainXml("kept", disk).toString());
    Virsh.run(second, "define", domainXml("taker", disk).toString());
    Virsh.run(first, "start", "kept");

    // virtlockd, not libvirtd, holds the lease: killing libvirtd (as the fault campaign does)
    // leaves the guest running and its disk leased.
    nodes.killDaemon("lock-1");
    try {
      Result refused = virsh(second, "start", "taker");
      assertThat(refused.exitCode()).as("virsh start taker: %s", refused.output()).isNotZero();
      assertThat(refused.output()).contains("is locked");
    } finally {
      nodes.startNode("lock-1");
    }
    assertThat(Virsh.run(first, "domstate", "kept")).contains("running");
    // Cleaning up: the restarted libvirtd may still end the guest on its own as it reattaches to
    // it (seen on a loaded machine: "terminating on signal 15 from libvirtd", reason=daemon), so
    // a destroy that finds it already off is not a failure; a guest left running would be.
    Result destroyed = virsh(first, "destroy", "kept");
    assertThat(destroyed.exitCode() == 0 || destroyed.output().contains("domain is not running"))
        .as("virsh destroy kept: %s", destroyed.output()).isTrue();
    assertThat(Virsh.run(first, "domstate", "kept")).contains("shut off");
  }

  /**
   * The disk's path as both nodes see it, {@code /var/lib/libvirt/images/<name>} inside each
   * node's namespace: one path, as a disk on an NFS or cluster file system is on real hosts.
   * Each node has its own file behind it, so that QEMU's own image locking (which sees one host's
   * processes only, and here would refuse a second writer of a literally shared file first) does
   * not answer: the refusal must come from virtlockd's leases in the shared lockspace, which are
   * keyed by the disk's path.
   */
  private static Path diskOnBothNodes(String name) throws Exception {
    Path image = CounterGuest.build(work);
    for (String node : new String[] {"lock-1", "lock-2"}) {
      Path images = Files.createDirectories(nodes.libDir(node).resolve("images"));
      Files.copy(image, images.resolve(name));
    }
    return Path.of("/var/lib/libvirt/images").resolve(name);
  }

  /** A minimal QEMU guest (TCG) that boots the counter image from {@code disk}. */
  private static Path domainXml(String name, Path disk) throws IOException {
    String xml = """
        <domain type='qemu'>
          <name>%s</name>
          <uuid>%s</uuid>
          <memory unit='MiB'>32</memory>
          <vcpu>1</vcpu>
          <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
          <devices>
            <disk type='file' device='disk'>
              <driver name='qemu' type='raw'/>
              <source file='%s'/>
              <target dev='vda' bus='virtio'/>
            </disk>
            <serial type='null'/>
          </devices>
        </domain>
        """.formatted(name, UUID.randomUUID(), disk);
    Path file = work.resolve(name + ".xml");
    Files.writeString(file, xml);
    return file;
  }

  private record Result(int exitCode, String output) {}

  private static Result virsh(Host host, String... arguments) throws IOException, InterruptedException {
    String[] command = new String[arguments.length + 3];
    command[0] = "virsh";
    command[1] = "-c";
    command[2] = host.endpoint();
    System.arraycopy(arguments, 0, command, 3, arguments.length);
    Process virsh = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(virsh.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    return new Result(virsh.waitFor(), output);
  }
}
