package io.polyvisor.vm;

import io.polyvisor.planner.MemoryRequest;
import io.polyvisor.api.v1alpha1.MemorySpec;
import io.polyvisor.driver.GuestMemoryStats;
import java.util.OptionalLong;

/**
 * Dynamic memory on KVM: the balloon target that gives a guest its demand plus bufferPercent,
 * never below minimum nor above maximum, as Hyper-V's Dynamic Memory does by itself. Small moves
 * are skipped so that the balloon does not chase noise.
 */
public final class BalloonPolicy {

  private static final long MIB = 1L << 20;
  /** Moves smaller than this, or than 5% of the current size, are not worth a balloon change. */
  private static final long MINIMUM_STEP = 8 * MIB;

  private BalloonPolicy() {}

  /** The new target in bytes (whole MiB), or empty when the current allocation is close enough. */
  public static OptionalLong target(MemorySpec spec, GuestMemoryStats stats) {
    long minimum = MemoryRequest.minimum(spec);
    long maximum = MemoryRequest.maximum(spec);
    long wanted = stats.demandBytes() * (100 + spec.effectiveBufferPercent()) / 100;
    long target = Math.min(maximum, Math.max(minimum, (wanted + MIB - 1) / MIB * MIB));
    long step = Math.max(MINIMUM_STEP, stats.currentBytes() / 20);
    return Math.abs(target - stats.currentBytes()) < step && stats.currentBytes() >= minimum && stats.currentBytes() <= maximum
        ? OptionalLong.empty()
        : OptionalLong.of(target);
  }
}
