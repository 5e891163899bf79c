package io.polyvisor.rebalance;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CpuUseTest {

  private static final Instant T0 = Instant.parse("2026-12-02T00:00:00Z");

  @Test
  void aRateIsTheCpuTimeUsedBetweenTwoReadingsOverTheTimeBetweenThem() {
    CpuUse use = new CpuUse();
    use.read(Map.of("a", 1_000_000_000L, "b", 0L), T0);
    assertThat(use.rates(T0)).as("one reading says no rate").isEmpty();

    // 30 s later: a used 15 s of CPU (half a CPU), b 60 s (two CPUs).
    use.read(Map.of("a", 16_000_000_000L, "b", 60_000_000_000L), T0.plusSeconds(30));

    assertThat(use.rates(T0.plusSeconds(30))).isEqualTo(Map.of("a", 500L, "b", 2000L));
  }

  @Test
  void aGuestWhoseCounterStartsAgainAfterAMoveKeepsItsRateUntilMeasuredAgainThenIsForgotten() {
    CpuUse use = new CpuUse();
    use.read(Map.of("a", 0L), T0);
    use.read(Map.of("a", 30_000_000_000L), T0.plusSeconds(30));
    // Moved: its new QEMU counts from 0.
    use.read(Map.of("a", 100_000_000L), T0.plusSeconds(60));
    assertThat(use.rates(T0.plusSeconds(60))).isEqualTo(Map.of("a", 1000L));
    use.read(Map.of("a", 3_100_000_000L), T0.plusSeconds(90));
    assertThat(use.rates(T0.plusSeconds(90))).isEqualTo(Map.of("a", 100L));

    assertThat(use.rates(T0.plusSeconds(90).plus(CpuUse.FORGOTTEN_AFTER).plusSeconds(1))).isEmpty();
  }
}
