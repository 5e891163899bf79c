package io.polyvisor.faults;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalTime;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The campaign's timeline: each fault, each anomaly and what led to them (moves, migration
 * phases, Events, what each host ran), one line each, stamped with the wall clock in the
 * operator logs' format (HH:mm:ss.SSS) and the seconds since the campaign began. Printed and
 * kept in a file, so that an anomaly can be laid beside the operators' own logs.
 */
final class CampaignLog implements AutoCloseable {

  /** What the campaign counts; the final line reports each. */
  enum Anomaly {
    DUPLICATED("duplicated"),
    LOST("lost"),
    PAUSED("paused"),
    ORPHANED("orphaned"),
    REGRESSED("regressed");

    final String word;

    Anomaly(String word) {
      this.word = word;
    }
  }

  private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss.SSS");

  private final Instant start = Instant.now();
  private final PrintStream out;
  private final Writer file;
  private final Path path;
  private final AtomicInteger faults = new AtomicInteger();
  private final Map<Anomaly, AtomicInteger> anomalies = new EnumMap<>(Anomaly.class);

  CampaignLog(Path path, PrintStream out) {
    this.path = path;
    this.out = out;
    try {
      Files.createDirectories(path.getParent());
      this.file = Files.newBufferedWriter(path, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    for (Anomaly a : Anomaly.values()) {
      anomalies.put(a, new AtomicInteger());
    }
  }

  /** An instant as the operators' logs print it. */
  static String clock(Instant instant) {
    return CLOCK.format(LocalTime.ofInstant(instant, ZoneId.systemDefault()));
  }

  Path path() {
    return path;
  }

  /** A fault injected now; counted in {@code faults=}. Returns its number. */
  int fault(String kind, String what) {
    int n = faults.incrementAndGet();
    line("FAULT   #" + n + " " + kind + ": " + what);
    return n;
  }

  /** The end of a fault (the daemon back, the proxy healed...): not counted. */
  void faultEnd(int number, String what) {
    line("FAULT   #" + number + " ends: " + what);
  }

  /** An anomaly, counted in its column of the final line. */
  void anomaly(Anomaly kind, String vm, String what) {
    anomalies.get(kind).incrementAndGet();
    line("ANOMALY " + kind.word + " " + vm + ": " + what);
  }

  /** What the campaign did or saw that is neither a fault nor an anomaly. */
  void note(String what) {
    line("        " + what);
  }

  int faults() {
    return faults.get();
  }

  int count(Anomaly kind) {
    return anomalies.get(kind).get();
  }

  boolean clean() {
    return anomalies.values().stream().allMatch(c -> c.get() == 0);
  }

  /** {@code faults=N duplicated=D lost=L paused=P orphaned=O regressed=R}. */
  String summary() {
    StringBuilder line = new StringBuilder("faults=" + faults.get());
    for (Anomaly a : Anomaly.values()) {
      line.append(' ').append(a.word).append('=').append(anomalies.get(a).get());
    }
    return line.toString();
  }

  /** The summary, as the very last line of the output and of the file. */
  void printSummaryLast() {
    String summary = summary();
    synchronized (this) {
      out.println(summary);
      out.flush();
      write(summary);
    }
  }

  private void line(String text) {
    Instant now = Instant.now();
    String stamp = clock(now);
    double since = Duration.between(start, now).toMillis() / 1000.0;
    String line = String.format("%s T+%7.2f %s", stamp, since, text);
    synchronized (this) {
      out.println(line);
      write(line);
    }
  }

  private void write(String line) {
    try {
      file.write(line);
      file.write('\n');
      file.flush();
    } catch (IOException e) {
      out.println("(campaign log file: " + e.getMessage() + ")");
    }
  }

  @Override
  public synchronized void close() {
    try {
      file.close();
    } catch (IOException e) {
      // the printed log has it all
    }
  }
}
