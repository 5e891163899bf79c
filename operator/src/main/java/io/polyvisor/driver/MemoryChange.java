package io.polyvisor.driver;

import java.util.List;
import java.util.Optional;

/**
 * How a guest's memory settings, as its host applies them, get to the wanted ones, where the
 * hypervisor balances Dynamic Memory itself ({@link HypervisorDriver#memoryChange}).
 *
 * @param live the settings to apply now, while the guest runs (empty: nothing to change now)
 * @param atNextBoot what differs and cannot change until the guest is off, each said for a person
 *     ("minimum 512Mi → 1Gi: it can only go down while the guest runs")
 */
public record MemoryChange(Optional<GuestSpec.GuestMemory> live, List<String> atNextBoot) {

  public static final MemoryChange NONE = new MemoryChange(Optional.empty(), List.of());

  public MemoryChange {
    atNextBoot = List.copyOf(atNextBoot);
  }

  /** Whether the host's settings differ from the wanted ones at all. */
  public boolean pending() {
    return live.isPresent() || !atNextBoot.isEmpty();
  }
}
