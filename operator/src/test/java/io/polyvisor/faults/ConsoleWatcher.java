package io.polyvisor.faults;

import io.polyvisor.faults.CampaignLog.Anomaly;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Reads every guest's serial console as it grows (every {@link #PERIOD}) and follows its count.
 * The counter guest writes 0, 1, 2, ... one number a line; every host appends to the same file,
 * so the file is the guest's own account of its life, wherever it ran:
 *
 * <ul>
 *   <li>a line that continues a count (n after n-1) belongs to that count (to the one that grew
 *       last, when several end at n-1);
 *   <li>0 starts a new count: a boot. A guest whose power was cut mid-line leaves the start of a
 *       number on the line, so a line made of a prefix of the next number followed by 0 is a boot
 *       too, and so is a new count from 1 or 2 (the cut-short line and the 0 made a number that
 *       seemed to continue the old count);
 *   <li>any other number starts a count that went backwards (at or below the highest count seen:
 *       an older memory brought back, or a second copy writing) or jumped forward (lost output);
 *   <li>a new count is judged once it has grown to three lines: two copies appending at once mix
 *       their characters into lines that are no count, and those never grow;
 *   <li>two counts that each grew after the other had begun, the last time within {@link
 *       #TOGETHER} of each other, are two copies of the guest running at once.
 * </ul>
 *
 * Each VM incarnation (uid) has its file; when a VM is deleted, its file is renamed and followed
 * on under its old uid, and its re-created namesake gets a fresh one.
 */
final class ConsoleWatcher implements AutoCloseable {

  static final Duration PERIOD = Duration.ofMillis(200);
  static final Duration TOGETHER = Duration.ofSeconds(1);
  private static final Duration OVERLAP = Duration.ofMillis(300);
  /** Lines in a row that make a count real (and not characters of two writers mixed by chance). */
  private static final int CONFIRM = 3;
  /** How long a count that never grew to {@link #CONFIRM} lines is kept. */
  private static final Duration FORGET = Duration.ofSeconds(10);

  private final CampaignLog log;
  private final Duplicates duplicates;
  private final Map<String, Console> consoles = new ConcurrentHashMap<>();
  private final Thread thread = new Thread(this::readForever, "watch-consoles");
  private volatile boolean stopped;

  ConsoleWatcher(CampaignLog log, Duplicates duplicates) {
    this.log = log;
    this.duplicates = duplicates;
    thread.setDaemon(true);
  }

  void start() {
    thread.start();
  }

  /** Follows the console of the VM incarnation {@code uid}, named {@code vm} in the log, in {@code file}. */
  void follow(String uid, String vm, Path file) {
    consoles.putIfAbsent(uid, new Console(uid, vm, file));
  }

  /** The VM's file was renamed (the VM was deleted): follow it there. */
  void moved(String uid, Path file) {
    Console console = consoles.get(uid);
    if (console != null) {
      synchronized (console) {
        console.file = file;
      }
    }
  }

  /** Boots seen in the incarnation's console (1 for a guest that never restarted). */
  int boots(String uid) {
    Console console = consoles.get(uid);
    return console == null ? 0 : console.boots;
  }

  /** When the incarnation's console last grew by a line, or null. */
  Instant lastLine(String uid) {
    Console console = consoles.get(uid);
    return console == null ? null : console.lastLineAt;
  }

  /** The count the incarnation's console last wrote, or -1. */
  long lastValue(String uid) {
    Console console = consoles.get(uid);
    return console == null ? -1 : console.lastValue;
  }

  /** The incarnations followed. */
  List<String> uids() {
    return new ArrayList<>(consoles.keySet());
  }

  String vm(String uid) {
    Console console = consoles.get(uid);
    return console == null ? uid : console.vm;
  }

  private void readForever() {
    while (!stopped) {
      for (Console console : consoles.values()) {
        try {
          console.read();
        } catch (IOException | RuntimeException e) {
          log.note("console of " + console.vm + ": cannot read " + console.file + " (" + e.getMessage() + ")");
        }
      }
      try {
        Thread.sleep(PERIOD.toMillis());
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  /** One count within a console: a run of n, n+1, n+2, ... */
  private static final class Count {
    final long first;
    final Instant firstAt;
    boolean confirmed;
    /** The line cut short that began this count, or -1. */
    long torn = -1;
    long last;
    Instant lastAt;
    int lines;

    Count(long first, Instant at) {
      this.first = first;
      this.firstAt = at;
      this.last = first;
      this.lastAt = at;
      this.lines = 1;
    }
  }

  private final class Console {
    final String uid;
    final String vm;
    Path file;
    long offset;
    final StringBuilder partial = new StringBuilder();
    final List<Count> counts = new ArrayList<>();
    long highest = -1;
    int boots;
    long lastValue = -1;
    Instant lastLineAt;

    Console(String uid, String vm, Path file) {
      this.uid = uid;
      this.vm = vm;
      this.file = file;
    }

    synchronized void read() throws IOException {
      if (!Files.exists(file)) {
        return;
      }
      long size = Files.size(file);
      if (size < offset) {
        log.note("console of " + vm + ": " + file.getFileName() + " shrank from " + offset + " to " + size
            + " bytes (opened without append?); reading it again from the start");
        offset = 0;
        partial.setLength(0);
      }
      if (size == offset) {
        return;
      }
      byte[] bytes;
      try (RandomAccessFile in = new RandomAccessFile(file.toFile(), "r")) {
        in.seek(offset);
        bytes = new byte[(int) Math.min(size - offset, 1 << 20)];
        in.readFully(bytes);
      }
      offset += bytes.length;
      partial.append(new String(bytes, StandardCharsets.US_ASCII));
      int newline;
      Instant now = Instant.now();
      while ((newline = partial.indexOf("\n")) >= 0) {
        String line = partial.substring(0, newline).trim();
        partial.delete(0, newline + 1);
        if (line.matches("\\d{1,12}")) {
          line(Long.parseLong(line), now);
        }
      }
    }

    private void line(long value, Instant now) {
      lastValue = value;
      lastLineAt = now;
      // Of the counts this line continues, the one that grew last: a guest booted again reaches,
      // in time, the number where its previous life stopped, and goes on with its own count.
      Count continued = null;
      for (Count count : counts) {
        if (count.last == value - 1 && (continued == null || count.lastAt.isAfter(continued.lastAt))) {
          continued = count;
        }
      }
      if (continued != null) {
        continued.last = value;
        continued.lastAt = now;
        continued.lines++;
        if (!continued.confirmed && continued.lines >= CONFIRM) {
          confirm(continued);
        }
        if (continued.confirmed) {
          highest = Math.max(highest, value);
          together(continued, now);
        }
        return;
      }
      // A new count, tentative until it grows: two copies appending to the file at once mix
      // their characters into lines that are no count at all.
      Count previous = mostRecent();
      boolean torn = value > 2 && previous != null && tornBoot(previous.last + 1, value);
      Count count = new Count(torn ? 0 : value, now);
      count.torn = torn ? value : -1;
      counts.add(count);
      counts.removeIf(c -> !c.confirmed && Duration.between(c.lastAt, now).compareTo(FORGET) > 0);
    }

    /** A count that grew to {@link #CONFIRM} lines: a boot, a step back, or a jump. */
    private void confirm(Count count) {
      count.confirmed = true;
      Count previous = null;
      for (Count c : counts) {
        if (c != count && c.confirmed && (previous == null || c.lastAt.isAfter(previous.lastAt))) {
          previous = c;
        }
      }
      // A boot: from 0; or from a line cut short joined with the new boot's 0; or from 1 or 2
      // (the cut-short line and the 0 happened to make the next number of the old count).
      if (count.first <= 2) {
        boots++;
        if (boots > 1) {
          log.note("console of " + vm + ": boot #" + boots + (count.torn >= 0 ? " (after a line cut short: " + count.torn + ")" : "")
              + (previous == null ? "" : ", the count was at " + previous.last));
        }
      } else if (count.first <= highest) {
        log.anomaly(Anomaly.REGRESSED, vm, "the console count went back from " + highest + " to " + count.first
            + " and goes on from there (an older copy of the guest's memory runs"
            + (previous != null && previous.last != highest ? "; the count before was " + previous.last : "") + ")");
      } else if (previous != null) {
        log.note("console of " + vm + ": the count jumped from " + previous.last + " to " + count.first + " (lines lost)");
      } else {
        log.note("console of " + vm + ": the first count starts at " + count.first + ", not 0");
      }
      highest = Math.max(highest, count.last);
    }

    /** Two counts growing together: two copies of this guest write the console at once. */
    private void together(Count growing, Instant now) {
      for (Count other : counts) {
        // Each grew after the other had begun (by more than one read of the file): not one
        // count ending as another begins, as when a Restart move boots the guest again.
        if (other != growing && other.confirmed && Duration.between(other.lastAt, now).compareTo(TOGETHER) <= 0
            && other.lastAt.isAfter(growing.firstAt.plus(OVERLAP)) && growing.lastAt.isAfter(other.firstAt.plus(OVERLAP))) {
          duplicates.seen(uid, vm, "console", "two counts grow in the console at once: one at " + growing.last
              + " (from " + growing.first + "), one at " + other.last + " (from " + other.first + ")");
          return;
        }
      }
    }

    private Count mostRecent() {
      Count recent = null;
      for (Count count : counts) {
        if (count.confirmed && (recent == null || count.lastAt.isAfter(recent.lastAt))) {
          recent = count;
        }
      }
      return recent;
    }
  }

  /** Whether {@code line} is a cut-short rendering of {@code expected} followed by a fresh boot's 0. */
  static boolean tornBoot(long expected, long line) {
    String text = Long.toString(line);
    if (!text.endsWith("0") || text.length() < 2) {
      return false;
    }
    String head = text.substring(0, text.length() - 1);
    String next = Long.toString(expected);
    return next.startsWith(head) && head.length() < next.length();
  }

  @Override
  public void close() {
    stopped = true;
    thread.interrupt();
    try {
      thread.join(2000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
