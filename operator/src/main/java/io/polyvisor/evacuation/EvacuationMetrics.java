package io.polyvisor.evacuation;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Metrics;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Evacuations as the evacuation reconciler last counted them: {@code
 * polyvisor_evacuation_vms{node, state}} with state {@code remaining} (VMs of ours still on the
 * node), {@code running} (their migrations under way), {@code queued} (waiting for a slot or a
 * retry) and {@code blocked} (that cannot leave as things are); and {@code
 * polyvisor_evacuations}, the nodes whose evacuation is not done. Per node, never per VM.
 */
final class EvacuationMetrics {

  private static final List<String> STATES = List.of("remaining", "running", "queued", "blocked");
  private static final Map<String, AtomicInteger> COUNTS = new ConcurrentHashMap<>();

  static {
    Gauge.builder("polyvisor.evacuations", COUNTS, EvacuationMetrics::underWay)
        .description("Cordoned nodes whose evacuation is not done")
        .register(Metrics.globalRegistry);
  }

  private EvacuationMetrics() {}

  static void record(String node, int remaining, int running, int queued, int blocked) {
    int[] values = {remaining, running, queued, blocked};
    for (int i = 0; i < STATES.size(); i++) {
      counter(node, STATES.get(i)).set(values[i]);
    }
  }

  /** The node is not evacuated any more (uncordoned, deleted, or out of every class): its series go. */
  static void clear(String node) {
    for (String state : STATES) {
      if (COUNTS.remove(node + "/" + state) != null) {
        Gauge gauge = Metrics.globalRegistry.find("polyvisor.evacuation.vms").tag("node", node).tag("state", state).gauge();
        if (gauge != null) {
          Metrics.globalRegistry.remove(gauge);
        }
      }
    }
  }

  private static AtomicInteger counter(String node, String state) {
    return COUNTS.computeIfAbsent(node + "/" + state, key -> {
      AtomicInteger value = new AtomicInteger();
      Gauge.builder("polyvisor.evacuation.vms", value, AtomicInteger::get)
          .description("VMs of an evacuated node, by state")
          .tag("node", node).tag("state", state)
          .register(Metrics.globalRegistry);
      return value;
    });
  }

  private static double underWay(Map<String, AtomicInteger> counts) {
    return counts.entrySet().stream().filter(e -> e.getKey().endsWith("/remaining") && e.getValue().get() > 0).count();
  }
}
