package io.polyvisor.rebalance;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;

/**
 * What each guest uses of its host's CPUs, in millicpu, from the CPU time its hypervisor counts:
 * the time it used over the last {@link #WINDOW} of readings, divided by that time. A guest is
 * measured only once it has been read over a whole window, so that the burst of a boot (or of a
 * moment) does not move anything: rebalancing follows sustained use. A guest whose counter went
 * back (it moved, and its new process counts from 0) starts a new window and keeps its last
 * rate meanwhile, so that a move does not make its new node look idle. A guest not read for
 * {@link #FORGOTTEN_AFTER} is forgotten. Not thread-safe: one rebalancing pass at a time reads it.
 */
final class CpuUse {

  static final Duration WINDOW = Duration.ofSeconds(60);
  static final Duration FORGOTTEN_AFTER = Duration.ofMinutes(10);

  private record Reading(long nanos, Instant at) {}

  private record Rate(long millicpu, Instant at) {}

  private final Map<String, Deque<Reading>> readings = new HashMap<>();
  private final Map<String, Rate> rates = new HashMap<>();

  /** Takes in one host's counters, read at {@code at}. */
  synchronized void read(Map<String, Long> cpuNanosByUid, Instant at) {
    cpuNanosByUid.forEach((uid, nanos) -> {
      Deque<Reading> window = readings.computeIfAbsent(uid, u -> new ArrayDeque<>());
      if (!window.isEmpty() && nanos < window.peekLast().nanos()) {
        window.clear(); // a new process: its counter started again
      }
      window.addLast(new Reading(nanos, at));
      // Keep the newest reading that is a whole window old, and those after it.
      Instant cutoff = at.minus(WINDOW);
      while (window.size() > 1 && !secondOf(window).isAfter(cutoff)) {
        window.removeFirst();
      }
      Reading first = window.peekFirst();
      Duration span = Duration.between(first.at(), at);
      if (span.compareTo(WINDOW) >= 0) {
        rates.put(uid, new Rate(Math.round(1000.0 * (nanos - first.nanos()) / span.toNanos()), at));
      }
    });
  }

  /** The measured rates, by uid, forgetting those not read since {@code now} minus {@link #FORGOTTEN_AFTER}. */
  synchronized Map<String, Long> rates(Instant now) {
    Instant oldest = now.minus(FORGOTTEN_AFTER);
    readings.values().removeIf(w -> w.peekLast().at().isBefore(oldest));
    rates.values().removeIf(r -> r.at().isBefore(oldest));
    Map<String, Long> byUid = new HashMap<>();
    rates.forEach((uid, rate) -> byUid.put(uid, rate.millicpu()));
    return Map.copyOf(byUid);
  }

  private static Instant secondOf(Deque<Reading> window) {
    return window.stream().skip(1).findFirst().orElseThrow().at();
  }
}
