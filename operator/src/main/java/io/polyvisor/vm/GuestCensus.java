package io.polyvisor.vm;

import io.polyvisor.cluster.HypervisorNode;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.HypervisorDriver;
import io.polyvisor.driver.HypervisorException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Where a VM's guest is, read from every host that could hold it: the copies found, and the hosts
 * that could not be read (with why). A guest is defined or started somewhere only when the census
 * is complete, that is when no host that could hold a copy went unread; see
 * {@link VirtualMachineReconciler}.
 */
record GuestCensus(List<Located> copies, Map<String, String> unreadable) {

  /** A guest found on a node. */
  record Located(HypervisorNode node, GuestInfo guest) {}

  static GuestCensus take(HypervisorDriver driver, List<HypervisorNode> hosts, String uid) {
    List<Located> copies = new ArrayList<>();
    Map<String, String> unreadable = new LinkedHashMap<>();
    for (HypervisorNode node : hosts) {
      try {
        driver.find(node.host(), uid).ifPresent(g -> copies.add(new Located(node, g)));
      } catch (HypervisorException e) {
        unreadable.put(node.name(), e.getMessage());
      }
    }
    return new GuestCensus(List.copyOf(copies), Map.copyOf(unreadable));
  }

  /** The one copy, when there is exactly one. */
  Optional<Located> only() {
    return copies.size() == 1 ? Optional.of(copies.get(0)) : Optional.empty();
  }

  boolean complete() {
    return unreadable.isEmpty();
  }

  /** The hosts among {@code required} that did not answer, by name, with why. */
  Map<String, String> unreadableAmong(java.util.Set<String> required) {
    Map<String, String> among = new LinkedHashMap<>(unreadable);
    among.keySet().retainAll(required);
    return among;
  }

  /** Hosts that did not answer, for a message: {@code kvm-2 (connection refused), ...}. */
  static String describe(Map<String, String> hosts) {
    return String.join(", ", hosts.entrySet().stream().map(e -> e.getKey() + " (" + e.getValue() + ")").toList());
  }

  String unreadableHosts() {
    return describe(unreadable);
  }
}
