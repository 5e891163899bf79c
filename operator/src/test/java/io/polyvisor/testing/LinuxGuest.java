package io.polyvisor.testing;

import io.polyvisor.driver.GuestSpec.KernelBoot;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The balloon test guest of {@code testbed/guests/linux-balloon}: Debian's cloud kernel and a
 * busybox initramfs that loads the virtio balloon driver, optionally holds some memory, and counts
 * on its serial port once a second. Real guest memory statistics and real ballooning.
 */
public final class LinuxGuest {

  private LinuxGuest() {}

  /**
   * Builds the same guest as a bootable disk image (ISOLINUX on an isohybrid image), for a
   * VirtualMachine that boots from its disk; the guest holds {@code holdMiB} of memory.
   */
  public static Path buildDisk(Path file, int holdMiB) throws IOException, InterruptedException {
    TestbedScripts.run("testbed/guests/linux-balloon/build-disk", Duration.ofMinutes(5), "building the Linux balloon guest's disk",
        file.toString(), String.valueOf(holdMiB));
    return file;
  }

  /**
   * The same, and from {@code afterSeconds} after boot the guest takes more memory, 4 MiB a
   * second, until it holds {@code growMiB}: a demand that rises from inside the guest.
   */
  public static Path buildDisk(Path file, int holdMiB, int growMiB, int afterSeconds) throws IOException, InterruptedException {
    TestbedScripts.run("testbed/guests/linux-balloon/build-disk", Duration.ofMinutes(5), "building the Linux balloon guest's disk",
        file.toString(), String.valueOf(holdMiB), growMiB + "@" + afterSeconds);
    return file;
  }

  /**
   * The same, and from {@code afterSeconds} after boot the guest keeps its CPU busy {@code percent}
   * of each second: a CPU use that rises from inside the guest.
   */
  public static Path buildBurningDisk(Path file, int holdMiB, int percent, int afterSeconds) throws IOException, InterruptedException {
    TestbedScripts.run("testbed/guests/linux-balloon/build-disk", Duration.ofMinutes(5), "building the Linux balloon guest's disk",
        file.toString(), String.valueOf(holdMiB), "-", percent + "@" + afterSeconds);
    return file;
  }

  /** Builds kernel and initrd into {@code folder}; the guest holds {@code holdMiB} of memory. */
  public static KernelBoot build(Path folder, int holdMiB) throws IOException, InterruptedException {
    TestbedScripts.run("testbed/guests/linux-balloon/build", Duration.ofMinutes(5), "building the Linux balloon guest",
        folder.toString());
    return new KernelBoot(
        folder.resolve("vmlinuz"),
        folder.resolve("initrd.img"),
        "console=ttyS0 quiet loglevel=0 polyvisor.hold=" + holdMiB);
  }
}
