package io.polyvisor.driver;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * The latency of every call to a host's management daemon, as {@code
 * polyvisor_hypervisor_call_seconds{daemon, node, outcome}}: outcome {@code ok}, {@code error} (the
 * daemon answered with an error) or {@code unreachable} (it did not answer, or not in time). Per
 * node, never per guest, so that the number of series stays that of the hosts. And whether each
 * host answered its last call, as {@code polyvisor_host_reachable{daemon, node}} (1 or 0).
 */
final class HypervisorCallMetrics {

  private static final Duration[] BUCKETS = Stream.of(5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
      .map(Duration::ofMillis).toArray(Duration[]::new);

  /** The last answer of each host, by daemon and node. */
  private static final Map<String, AtomicInteger> REACHABLE = new ConcurrentHashMap<>();

  private HypervisorCallMetrics() {}

  static void record(String daemon, Host host, String outcome, long nanos) {
    Timer.builder("polyvisor.hypervisor.call")
        .description("Calls to hosts' management daemons (libvirtd, WinRM), by node and outcome")
        .tag("daemon", daemon)
        .tag("node", host.nodeName())
        .tag("outcome", outcome)
        // A dozen buckets, not Micrometer's seventy: this is per node, and a cluster has many.
        .serviceLevelObjectives(BUCKETS)
        .register(Metrics.globalRegistry)
        .record(nanos, TimeUnit.NANOSECONDS);
    REACHABLE.computeIfAbsent(daemon + "/" + host.nodeName(), key -> {
      AtomicInteger reachable = new AtomicInteger();
      Gauge.builder("polyvisor.host.reachable", reachable, AtomicInteger::get)
          .description("Whether the host's management daemon answered its last call (1) or not (0)")
          .tag("daemon", daemon).tag("node", host.nodeName())
          .register(Metrics.globalRegistry);
      return reachable;
    }).set("unreachable".equals(outcome) ? 0 : 1);
  }
}
