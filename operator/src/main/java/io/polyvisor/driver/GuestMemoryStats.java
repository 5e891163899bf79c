package io.polyvisor.driver;

/**
 * Memory figures reported by the guest's balloon driver, in bytes. {@code available} is what the
 * guest OS sees in all, {@code usable} what it could still use without swapping.
 */
public record GuestMemoryStats(long currentBytes, long availableBytes, long usableBytes) {

  /** What the guest's workload needs now: what it sees minus what it could still give up. */
  public long demandBytes() {
    return Math.max(0, availableBytes - usableBytes);
  }
}
