package io.polyvisor.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The tiny test guest of {@code testbed/guests/counter}: a boot sector, assembled from source
 * here, that writes 0, 1, 2, ... one number a line to its serial port. A live migration that
 * loses guest state shows as a gap; a reboot shows as the count starting over at 0.
 */
public final class CounterGuest {

  private CounterGuest() {}

  /** Builds the disk image into {@code folder} and returns its path. */
  public static Path build(Path folder) throws IOException, InterruptedException {
    return build(folder, 0);
  }

  /**
   * Builds a variant that, instead of sleeping between ticks, keeps rewriting {@code dirtyPages}
   * 4 KiB pages of its memory, so that a slow migration link never converges by pre-copy alone.
   * It keeps a host CPU busy while it runs.
   */
  public static Path build(Path folder, int dirtyPages) throws IOException, InterruptedException {
    Path image = folder.resolve(dirtyPages == 0 ? "counter.img" : "counter-dirty-" + dirtyPages + ".img");
    TestbedScripts.run("testbed/guests/counter/build", Duration.ofSeconds(60), "building the counter guest",
        image.toString(), String.valueOf(dirtyPages));
    return image;
  }

  /** The numbers the guest has written so far (a partly written last line is left out). */
  public static List<Long> readCount(Path serialLog) throws IOException {
    if (!Files.exists(serialLog)) {
      return List.of();
    }
    String text = Files.readString(serialLog, StandardCharsets.US_ASCII);
    int end = text.lastIndexOf('\n');
    if (end < 0) {
      return List.of();
    }
    return text.substring(0, end).lines().map(String::trim).filter(l -> l.matches("\\d+")).map(Long::parseLong).toList();
  }

  /** Asserts the count runs 0, 1, 2, ... with no gap, repeat or restart. */
  public static void assertContinuous(List<Long> count) {
    for (int i = 0; i < count.size(); i++) {
      if (count.get(i) != i) {
        throw new AssertionError("guest count breaks at line " + i + ": expected " + i + ", found " + count.get(i)
            + " (around: " + count.subList(Math.max(0, i - 3), Math.min(count.size(), i + 3)) + ")");
      }
    }
  }
}
