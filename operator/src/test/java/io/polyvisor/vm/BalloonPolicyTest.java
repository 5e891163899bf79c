package io.polyvisor.vm;

import static org.assertj.core.api.Assertions.assertThat;

import io.polyvisor.api.v1alpha1.MemorySpec;
import io.polyvisor.driver.GuestMemoryStats;
import org.junit.jupiter.api.Test;

class BalloonPolicyTest {

  private static final long MIB = 1L << 20;

  private static MemorySpec dynamic(Integer bufferPercent) {
    MemorySpec spec = Fixtures.dynamicVm("x", "256Mi", "512Mi", "2Gi").getSpec().memory;
    spec.bufferPercent = bufferPercent;
    return spec;
  }

  /** A guest given {@code current} that uses {@code demand}. */
  private static GuestMemoryStats guest(long current, long demand) {
    long maximum = 2048 * MIB;
    return new GuestMemoryStats(current, maximum, maximum - demand - (maximum - current), maximum - current);
  }

  @Test
  void targetIsDemandPlusTheBufferThatDefaultsTo20Percent() {
    assertThat(BalloonPolicy.target(dynamic(null), guest(2048 * MIB, 500 * MIB))).hasValue(600 * MIB);
    assertThat(BalloonPolicy.target(dynamic(50), guest(2048 * MIB, 500 * MIB))).hasValue(750 * MIB);
  }

  @Test
  void targetStaysBetweenMinimumAndMaximum() {
    assertThat(BalloonPolicy.target(dynamic(20), guest(1024 * MIB, 10 * MIB))).hasValue(256 * MIB);
    assertThat(BalloonPolicy.target(dynamic(20), guest(1024 * MIB, 1900 * MIB))).hasValue(2048 * MIB);
  }

  @Test
  void smallMovesAreSkipped() {
    assertThat(BalloonPolicy.target(dynamic(20), guest(600 * MIB, 498 * MIB))).isEmpty();
  }
}
