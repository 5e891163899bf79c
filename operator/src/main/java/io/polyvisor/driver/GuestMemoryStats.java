package io.polyvisor.driver;

/**
 * Memory figures reported by the guest's balloon driver, in bytes: {@code current} is what the
 * host gives the guest now, {@code available} what the guest OS counts in all, {@code usable} what
 * it could still use without swapping, and {@code inflated} the part of {@code available} that the
 * balloon holds (counted as used inside the guest).
 */
public record GuestMemoryStats(long currentBytes, long availableBytes, long usableBytes, long inflatedBytes) {

  /**
   * The memory the guest needs the host to give it for what it runs now: what it has, less what it
   * could still use without swapping. This includes the memory the guest's kernel keeps out of
   * its own count (its code, the page tables of its memory), which the host must give too; the
   * balloon's own pages are not demand, as they are not usable either way.
   */
  public long demandBytes() {
    return Math.max(0, currentBytes - usableBytes);
  }
}
