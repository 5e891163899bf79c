package io.polyvisor.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class OperatorSettingsTest {

  @Test
  void theHypervisorCallTimeoutComesFromTheEnvironmentAndDefaultsToThirtySeconds() {
    assertThat(OperatorSettings.from(Map.of()).hypervisorCallTimeout()).isEqualTo(Duration.ofSeconds(30));
    assertThat(OperatorSettings.from(Map.of("POLYVISOR_HYPERVISOR_CALL_TIMEOUT_SECONDS", "5")).hypervisorCallTimeout())
        .isEqualTo(Duration.ofSeconds(5));
    assertThatThrownBy(() -> OperatorSettings.from(Map.of("POLYVISOR_HYPERVISOR_CALL_TIMEOUT_SECONDS", "0")))
        .hasMessage("POLYVISOR_HYPERVISOR_CALL_TIMEOUT_SECONDS must be a positive number of seconds, not '0'");
  }
}
