package io.polyvisor.faults;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.polyvisor.faults.CampaignLog.Anomaly;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.stream.Collectors;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** How the campaign reads a counter guest's console: boots, steps back, two writers at once. */
class ConsoleWatcherTest {

  @TempDir Path dir;
  private CampaignLog log;
  private ConsoleWatcher consoles;
  private Path file;

  @BeforeEach
  void watch() {
    log = new CampaignLog(dir.resolve("campaign.log"), new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    consoles = new ConsoleWatcher(log, new Duplicates(log));
    file = dir.resolve("vm.log");
    consoles.follow("uid-1", "vm/uid-1", file);
    consoles.start();
  }

  @AfterEach
  void stop() {
    consoles.close();
    log.close();
  }

  @Test
  void aCountThatRunsOnIsOneBootAndNothingElse() throws Exception {
    append(0, 200);
    append(200, 400);
    awaitValue(399);
    assertThat(consoles.boots("uid-1")).isEqualTo(1);
    assertThat(log.clean()).isTrue();
  }

  @Test
  void aRebootIsCountedAndTheNewCountCatchingUpWithTheOldIsNotASecondCopy() throws Exception {
    append(0, 100);
    awaitValue(99);
    Thread.sleep(600);
    // Power cut mid-line ("1" of "100"), then a fresh boot whose first line joins it: "10".
    Files.writeString(file, "1", StandardOpenOption.APPEND);
    append(0, 1, "");
    append(1, 150);
    awaitValue(149);
    assertThat(consoles.boots("uid-1")).isEqualTo(2);
    assertThat(log.clean()).as("read the campaign log").isTrue();
  }

  @Test
  void aCountThatGoesBackIsRegressed() throws Exception {
    append(0, 300);
    awaitValue(299);
    append(120, 140);
    awaitValue(139);
    assertThat(log.count(Anomaly.REGRESSED)).isEqualTo(1);
  }

  @Test
  void twoCountsGrowingTogetherAreTwoCopies() throws Exception {
    append(0, 50);
    awaitValue(49);
    Thread.sleep(400);
    for (int i = 0; i < 20; i++) {
      append(50 + i, 51 + i);
      append(i, i + 1);
      Thread.sleep(60);
    }
    await().atMost(Duration.ofSeconds(5)).until(() -> log.count(Anomaly.DUPLICATED) == 1);
    assertThat(log.count(Anomaly.DUPLICATED)).isEqualTo(1);
  }

  @Test
  void linesMixedByTwoWritersAreNoCount() throws Exception {
    append(0, 300);
    awaitValue(299);
    Files.writeString(file, "30301\n11725516\n12\n", StandardOpenOption.APPEND);
    append(300, 320);
    awaitValue(319);
    assertThat(log.clean()).isTrue();
    assertThat(consoles.boots("uid-1")).isEqualTo(1);
  }

  @Test
  void aLineCutShortThenZeroIsABoot() {
    assertThat(ConsoleWatcher.tornBoot(1234, 120)).isTrue();
    assertThat(ConsoleWatcher.tornBoot(1234, 1230)).isTrue();
    assertThat(ConsoleWatcher.tornBoot(1234, 12340)).isFalse();
    assertThat(ConsoleWatcher.tornBoot(1234, 130)).isFalse();
  }

  private void append(long from, long to) throws Exception {
    append(from, to, "\n");
  }

  private void append(long from, long to, String last) throws Exception {
    String lines = LongStream.range(from, to).mapToObj(Long::toString).collect(Collectors.joining("\n")) + last;
    if (last.isEmpty()) {
      lines = lines + "\n";
    }
    Files.writeString(file, lines, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
  }

  private void awaitValue(long value) {
    await().atMost(Duration.ofSeconds(5)).until(() -> consoles.lastValue("uid-1") == value);
  }
}
