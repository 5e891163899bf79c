package io.polyvisor.driver;

/**
 * Memory figures reported by the guest's balloon driver, in bytes: {@code current} is what the
 * host gives the guest now, {@code available} what the guest OS counts in all, {@code usable} what
 * it could still use without swapping, and {@code inflated} the part of {@code available} that the
 * balloon holds (counted as used inside the guest).
 */
public record GuestMemoryStats(long currentBytes, long availableBytes, long usableBytes, long inflatedBytes) {

  /** What the guest's workload uses now: what the guest counts as used, less the balloon. */
  public long demandBytes() {
    return Math.max(0, availableBytes - usableBytes - inflatedBytes);
  }
}
