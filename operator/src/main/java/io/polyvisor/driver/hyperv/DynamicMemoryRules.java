package io.polyvisor.driver.hyperv;

import io.polyvisor.driver.GuestSpec.GuestMemory;
import io.polyvisor.driver.MemoryChange;
import io.polyvisor.planner.Bytes;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What Hyper-V lets change in a running VM's Dynamic Memory: the buffer and the priority, the
 * minimum down and the maximum up. Not the startup memory (used at boot only), not a minimum up
 * or a maximum down (the guest may hold that memory now), and not Dynamic Memory on or off (that
 * is in the VM's revision). These rules come from third-party sources and the simulator, not from
 * a Microsoft text (docs/hyperv-on-real-hosts.md, section 6); a host that is stricter refuses the
 * Set-VMMemory with its own words, which reach the VM's conditions.
 */
final class DynamicMemoryRules {

  private DynamicMemoryRules() {}

  /** From the settings the host applies now to the wanted ones, for a guest that runs. */
  static MemoryChange change(GuestMemory current, GuestMemory wanted) {
    if (!current.dynamic() || !wanted.dynamic()) {
      return MemoryChange.NONE;
    }
    List<String> atNextBoot = new ArrayList<>();
    long minimum = HyperVDriver.aligned(wanted.minimumBytes());
    long maximum = HyperVDriver.aligned(wanted.maximumBytes());
    long startup = HyperVDriver.aligned(wanted.currentBytes());
    if (minimum > current.minimumBytes()) {
      atNextBoot.add(change("minimum", current.minimumBytes(), minimum) + ": it can only go down while the guest runs");
      minimum = current.minimumBytes();
    }
    if (maximum < current.maximumBytes()) {
      atNextBoot.add(change("maximum", current.maximumBytes(), maximum) + ": it can only go up while the guest runs");
      maximum = current.maximumBytes();
    }
    if (startup != current.currentBytes()) {
      atNextBoot.add(change("startup memory", current.currentBytes(), startup) + ": the guest gets it at boot");
    }
    GuestMemory live = new GuestMemory(current.currentBytes(), maximum, minimum, true, wanted.bufferPercent(), wanted.priority());
    return new MemoryChange(live.equals(current) ? Optional.empty() : Optional.of(live), atNextBoot);
  }

  private static String change(String what, long from, long to) {
    return what + " " + Bytes.format(from) + " → " + Bytes.format(to);
  }
}
