package io.polyvisor.rebalance;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CpuUseTest {

  private static final Instant T0 = Instant.parse("2026-12-02T00:00:00Z");
  private static final long SECOND = 1_000_000_000L;

  @Test
  void aGuestIsMeasuredOverAWholeWindowAfterItsWarmUpSoThatItsBootMovesNothing() {
    CpuUse use = new CpuUse();
    // Read every 10 s: a boot that takes a whole CPU for 30 s, then 0.1 CPU.
    long nanos = 0;
    for (int s = 0; s <= 110; s += 10) {
      use.read("n1", Map.of("a", nanos), T0.plusSeconds(s));
      nanos += s < 30 ? 10 * SECOND : SECOND;
    }
    assertThat(use.rates(T0.plusSeconds(110))).as("warm-up, then not a whole window yet").isEmpty();
    use.read("n1", Map.of("a", nanos), T0.plusSeconds(120));
    // From 60 s to 120 s: 6 s of CPU over 60 s; the boot is left out.
    assertThat(use.rates(T0.plusSeconds(120))).isEqualTo(Map.of("a", 100L));
    nanos += 4 * SECOND;
    use.read("n1", Map.of("a", nanos), T0.plusSeconds(130));
    // The window now starts at 70 s: 9 s over 60 s.
    assertThat(use.rates(T0.plusSeconds(130))).isEqualTo(Map.of("a", 150L));
  }

  @Test
  void aGuestOnTwoHostsOrMovedKeepsItsRateUntilMeasuredOnItsNewHostThenIsForgotten() {
    CpuUse use = new CpuUse();
    for (int s = 0; s <= 120; s += 30) {
      use.read("n1", Map.of("a", 1000L * s * SECOND / 1000), T0.plusSeconds(s));
    }
    assertThat(use.rates(T0.plusSeconds(120))).isEqualTo(Map.of("a", 1000L));
    // Being moved: the incoming copy counts from 0 on n2 while n1 goes on; then it is only on n2.
    for (int s = 130; s <= 200; s += 10) {
      use.read("n1", Map.of("a", s * SECOND), T0.plusSeconds(s));
      use.read("n2", Map.of("a", (s - 130) * SECOND / 100), T0.plusSeconds(s));
    }
    assertThat(use.rates(T0.plusSeconds(200))).as("never a rate from two hosts' counters").isEqualTo(Map.of("a", 1000L));
    for (int s = 210; s <= 330; s += 10) {
      use.read("n2", Map.of("a", (s - 210) * SECOND / 10), T0.plusSeconds(s));
    }
    assertThat(use.rates(T0.plusSeconds(330))).isEqualTo(Map.of("a", 100L));

    assertThat(use.rates(T0.plusSeconds(330).plus(CpuUse.FORGOTTEN_AFTER).plusSeconds(1))).isEmpty();
  }
}
