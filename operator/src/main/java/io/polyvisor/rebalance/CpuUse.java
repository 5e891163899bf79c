package io.polyvisor.rebalance;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What each guest uses of its host's CPUs, in millicpu, from the CPU time its hypervisor counts:
 * the time it used between two readings over the time between them. A guest whose counter went
 * back (it moved, and its new process counts from 0) or that was read once keeps its last rate
 * until it can be measured again, so that a move does not make its new node look idle for a
 * pass. A guest not read for {@link #FORGOTTEN_AFTER} is forgotten.
 */
final class CpuUse {

  static final Duration FORGOTTEN_AFTER = Duration.ofMinutes(10);
  /** Readings closer than this say too little. */
  private static final Duration SHORTEST = Duration.ofSeconds(1);

  private record Reading(long nanos, Instant at) {}

  private record Rate(long millicpu, Instant at) {}

  private final Map<String, Reading> readings = new ConcurrentHashMap<>();
  private final Map<String, Rate> rates = new ConcurrentHashMap<>();

  /** Takes in one host's counters, read at {@code at}. */
  void read(Map<String, Long> cpuNanosByUid, Instant at) {
    cpuNanosByUid.forEach((uid, nanos) -> {
      Reading previous = readings.get(uid);
      if (previous != null && Duration.between(previous.at(), at).compareTo(SHORTEST) < 0) {
        return; // keep the older reading: the next one spans more time
      }
      if (previous != null && nanos >= previous.nanos()) {
        long wall = Duration.between(previous.at(), at).toNanos();
        rates.put(uid, new Rate(Math.round(1000.0 * (nanos - previous.nanos()) / wall), at));
      }
      readings.put(uid, new Reading(nanos, at));
    });
  }

  /** The measured rates, by uid, forgetting those not read since {@code now} minus {@link #FORGOTTEN_AFTER}. */
  Map<String, Long> rates(Instant now) {
    Instant oldest = now.minus(FORGOTTEN_AFTER);
    readings.values().removeIf(r -> r.at().isBefore(oldest));
    rates.values().removeIf(r -> r.at().isBefore(oldest));
    Map<String, Long> byUid = new java.util.HashMap<>();
    rates.forEach((uid, rate) -> byUid.put(uid, rate.millicpu()));
    return Map.copyOf(byUid);
  }
}
