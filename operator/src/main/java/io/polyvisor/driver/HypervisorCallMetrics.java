package io.polyvisor.driver;

import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The latency of every call to a host's management daemon, as {@code
 * polyvisor_hypervisor_call_seconds{daemon, node, outcome}}: outcome {@code ok}, {@code error} (the
 * daemon answered with an error) or {@code unreachable} (it did not answer, or not in time). Per
 * node, never per guest, so that the number of series stays that of the hosts.
 */
final class HypervisorCallMetrics {

  private static final Duration[] BUCKETS = Stream.of(5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
      .map(Duration::ofMillis).toArray(Duration[]::new);

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
  }
}
