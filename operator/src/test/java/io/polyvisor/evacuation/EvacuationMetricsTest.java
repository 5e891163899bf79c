package io.polyvisor.evacuation;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class EvacuationMetricsTest {

  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  @AfterEach
  void remove() {
    Metrics.removeRegistry(registry);
  }

  @Test
  void eachNodeIsCountedByStateAndANodeWithVmsLeftIsAnEvacuationUnderWay() {
    Metrics.addRegistry(registry);
    EvacuationMetrics.record("metrics-1", 3, 1, 1, 1);
    EvacuationMetrics.record("metrics-2", 2, 2, 0, 0);

    assertThat(gauge("metrics-1", "queued")).isEqualTo(1);
    assertThat(gauge("metrics-2", "running")).isEqualTo(2);
    assertThat(registry.get("polyvisor.evacuations").gauge().value()).isEqualTo(2);

    EvacuationMetrics.clear("metrics-1");
    assertThat(registry.find("polyvisor.evacuation.vms").tag("node", "metrics-1").gauges()).as("no series left").isEmpty();
    assertThat(registry.get("polyvisor.evacuations").gauge().value()).isEqualTo(1);
    EvacuationMetrics.clear("metrics-2");
  }

  private double gauge(String node, String state) {
    return registry.get("polyvisor.evacuation.vms").tag("node", node).tag("state", state).gauge().value();
  }
}
