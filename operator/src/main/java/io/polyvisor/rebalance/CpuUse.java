package io.polyvisor.rebalance;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;

/**
 * What each guest of a class uses of its host's CPUs, in millicpu, from the CPU time its
 * hypervisor counts: the time it used over the last {@link #WINDOW} of readings, divided by that
 * time. Readings of the first {@link #WARM_UP} after a guest is first seen on a host are left
 * out, so that the burst of a boot (or of the arrival of a move) does not move anything:
 * rebalancing follows sustained use, measured from two minutes after a guest appears. Each
 * guest's window is for one host: a guest read on another host (it moved, or it is being moved
 * and runs paused on both) starts a new window there, so two hosts' counters are never mixed,
 * and it keeps its last rate meanwhile, so that a move does not make its new node look idle. A
 * rate not measured again for {@link #FORGOTTEN_AFTER} is forgotten. Its methods are synchronized:
 * a class's passes run one at a time, but an operator restart of the controller may overlap.
 */
final class CpuUse {

  static final Duration WARM_UP = Duration.ofSeconds(60);
  static final Duration WINDOW = Duration.ofSeconds(60);
  static final Duration FORGOTTEN_AFTER = Duration.ofMinutes(10);

  private record Reading(long nanos, Instant at) {}

  /** One guest's readings on one host, since it was first seen there. */
  private static final class Window {
    final String host;
    final Instant firstSeen;
    final Deque<Reading> readings = new ArrayDeque<>();

    Window(String host, Instant firstSeen) {
      this.host = host;
      this.firstSeen = firstSeen;
    }
  }

  private record Rate(long millicpu, Instant at) {}

  private final Map<String, Window> windows = new HashMap<>();
  private final Map<String, Rate> rates = new HashMap<>();

  /** Takes in one host's counters, read at {@code at}, by guest uid. */
  synchronized void read(String host, Map<String, Long> cpuNanosByUid, Instant at) {
    cpuNanosByUid.forEach((uid, nanos) -> {
      Window window = windows.get(uid);
      if (window == null || !window.host.equals(host)
          || (!window.readings.isEmpty() && nanos < window.readings.peekLast().nanos())) {
        window = new Window(host, at); // a new host, or a new process there: its counter started again
        windows.put(uid, window);
      }
      if (Duration.between(window.firstSeen, at).compareTo(WARM_UP) < 0) {
        return;
      }
      Deque<Reading> readings = window.readings;
      readings.addLast(new Reading(nanos, at));
      // Keep the newest reading that is a whole window old, and those after it.
      Instant cutoff = at.minus(WINDOW);
      while (readings.size() > 1 && !readings.stream().skip(1).findFirst().orElseThrow().at().isAfter(cutoff)) {
        readings.removeFirst();
      }
      Reading first = readings.peekFirst();
      Duration span = Duration.between(first.at(), at);
      if (span.compareTo(WINDOW) >= 0) {
        rates.put(uid, new Rate(Math.round(1000.0 * (nanos - first.nanos()) / span.toNanos()), at));
      }
    });
  }

  /** The measured rates, by uid, forgetting what was not read since {@code now} minus {@link #FORGOTTEN_AFTER}. */
  synchronized Map<String, Long> rates(Instant now) {
    Instant oldest = now.minus(FORGOTTEN_AFTER);
    windows.values().removeIf(w -> (w.readings.isEmpty() ? w.firstSeen : w.readings.peekLast().at()).isBefore(oldest));
    rates.values().removeIf(r -> r.at().isBefore(oldest));
    Map<String, Long> byUid = new HashMap<>();
    rates.forEach((uid, rate) -> byUid.put(uid, rate.millicpu()));
    return Map.copyOf(byUid);
  }
}
