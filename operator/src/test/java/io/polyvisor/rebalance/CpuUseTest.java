package io.polyvisor.rebalance;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CpuUseTest {

  private static final Instant T0 = Instant.parse("2026-12-02T00:00:00Z");
  private static final long SECOND = 1_000_000_000L;

  @Test
  void aGuestIsMeasuredOverAWholeWindowSoThatABurstMovesNothing() {
    CpuUse use = new CpuUse();
    // Read every 10 s: a boot that takes a whole CPU for 10 s, then 0.1 CPU.
    long nanos = 0;
    for (int s = 0; s <= 50; s += 10) {
      use.read(Map.of("a", nanos), T0.plusSeconds(s));
      nanos += s == 0 ? 10 * SECOND : SECOND;
    }
    assertThat(use.rates(T0.plusSeconds(50))).as("not read over a whole window yet").isEmpty();
    use.read(Map.of("a", nanos), T0.plusSeconds(60));
    // 15 s of CPU over 60 s.
    assertThat(use.rates(T0.plusSeconds(60))).isEqualTo(Map.of("a", 250L));
    nanos += SECOND;
    use.read(Map.of("a", nanos), T0.plusSeconds(70));
    // The window now starts at 10 s: 6 s over 60 s.
    assertThat(use.rates(T0.plusSeconds(70))).isEqualTo(Map.of("a", 100L));
  }

  @Test
  void aGuestWhoseCounterStartsAgainAfterAMoveKeepsItsRateUntilMeasuredAgainThenIsForgotten() {
    CpuUse use = new CpuUse();
    use.read(Map.of("a", 0L), T0);
    use.read(Map.of("a", 60 * SECOND), T0.plusSeconds(60));
    assertThat(use.rates(T0.plusSeconds(60))).isEqualTo(Map.of("a", 1000L));
    // Moved: its new QEMU counts from 0.
    use.read(Map.of("a", SECOND / 10), T0.plusSeconds(70));
    use.read(Map.of("a", 3 * SECOND), T0.plusSeconds(100));
    assertThat(use.rates(T0.plusSeconds(100))).as("the last rate, until a whole window on the new host").isEqualTo(Map.of("a", 1000L));
    use.read(Map.of("a", 6 * SECOND + SECOND / 10), T0.plusSeconds(130));
    assertThat(use.rates(T0.plusSeconds(130))).isEqualTo(Map.of("a", 100L));

    assertThat(use.rates(T0.plusSeconds(130).plus(CpuUse.FORGOTTEN_AFTER).plusSeconds(1))).isEmpty();
  }
}
