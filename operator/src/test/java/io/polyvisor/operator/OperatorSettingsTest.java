package io.polyvisor.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
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

  @Test
  void theStopTimeoutAndTheFolderOfTheTlsClientFilesComeFromTheEnvironment() {
    OperatorSettings defaults = OperatorSettings.from(Map.of());
    assertThat(defaults.stopTimeout()).isEqualTo(Duration.ofSeconds(10));
    assertThat(defaults.libvirtPkiDir()).isEqualTo(Path.of(System.getProperty("java.io.tmpdir"), "polyvisor-libvirt-pki"));
    OperatorSettings set = OperatorSettings.from(Map.of("POLYVISOR_STOP_TIMEOUT_SECONDS", "7", "POLYVISOR_LIBVIRT_PKI_DIR", "/run/pki"));
    assertThat(set.stopTimeout()).isEqualTo(Duration.ofSeconds(7));
    assertThat(set.libvirtPkiDir()).isEqualTo(Path.of("/run/pki"));
    // Short Lease timings shorten the default; a value they cannot cover is refused, naming them.
    assertThat(OperatorSettings.from(Map.of("POLYVISOR_LEASE_DURATION_SECONDS", "6", "POLYVISOR_LEASE_RENEW_DEADLINE_SECONDS", "4",
        "POLYVISOR_LEASE_RETRY_PERIOD_SECONDS", "1")).stopTimeout()).isEqualTo(Duration.ofSeconds(4));
    assertThatThrownBy(() -> OperatorSettings.from(Map.of("POLYVISOR_STOP_TIMEOUT_SECONDS", "13")).checkStopTimeoutFitsTheLease())
        .hasMessage("POLYVISOR_STOP_TIMEOUT_SECONDS (13) must be shorter than POLYVISOR_LEASE_DURATION_SECONDS less"
            + " POLYVISOR_LEASE_RETRY_PERIOD_SECONDS (15 - 2): the Lease is not renewed while the operator stops");
  }

  @Test
  void leaseTimingsTheLeaderElectorWouldRefuseAreRefusedAtStartNamingTheVariables() {
    // 20 x 2.2 = 44 > 40: a renewal with its jitter does not fit twice in the deadline.
    assertThatThrownBy(() -> OperatorSettings.from(Map.of("POLYVISOR_LEASE_DURATION_SECONDS", "60",
        "POLYVISOR_LEASE_RENEW_DEADLINE_SECONDS", "40", "POLYVISOR_LEASE_RETRY_PERIOD_SECONDS", "20")))
        .hasMessage("POLYVISOR_LEASE_RETRY_PERIOD_SECONDS x 2.2 < POLYVISOR_LEASE_RENEW_DEADLINE_SECONDS"
            + " < POLYVISOR_LEASE_DURATION_SECONDS is required (the leader elector retries with a jitter of 1.2 periods), not 20, 40, 60");
    assertThatThrownBy(() -> OperatorSettings.from(Map.of("POLYVISOR_LEASE_RENEW_DEADLINE_SECONDS", "15")))
        .hasMessageEndingWith("not 2, 15, 15");
    assertThat(OperatorSettings.from(Map.of("POLYVISOR_LEASE_DURATION_SECONDS", "60",
        "POLYVISOR_LEASE_RENEW_DEADLINE_SECONDS", "50", "POLYVISOR_LEASE_RETRY_PERIOD_SECONDS", "20")).lease().renewDeadline())
        .isEqualTo(Duration.ofSeconds(50));
  }
}
