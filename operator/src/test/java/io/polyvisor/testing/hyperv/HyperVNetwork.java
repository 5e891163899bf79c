package io.polyvisor.testing.hyperv;

import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * What simulated Hyper-V hosts share: the network that carries live migrations between them (by
 * computer name, at one bandwidth) and the file servers behind their SMB shares, so that a file
 * written on a share by one host is there for the others.
 */
public final class HyperVNetwork {

  private final Map<String, SimulatedHyperVHost> hosts = new ConcurrentHashMap<>();
  final Map<String, Long> shareFiles = new ConcurrentHashMap<>();
  /** The hosts' Virtual Machine Management Services: migrations run here, not in a WinRM command. */
  final ExecutorService vmms = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "simulated-vmms");
    t.setDaemon(true);
    return t;
  });
  private volatile long migrationBytesPerSecond = 256L << 20;

  void join(SimulatedHyperVHost host) {
    hosts.put(host.computerName().toLowerCase(Locale.ROOT), host);
  }

  Optional<SimulatedHyperVHost> host(String computerName) {
    return Optional.ofNullable(hosts.get(computerName.toLowerCase(Locale.ROOT)));
  }

  /**
   * The hosts where a VM of this name runs, read at one instant: switch-overs hold the same
   * lock, so a copy is never seen on both hosts or on neither because of the reading itself.
   */
  public synchronized java.util.List<String> hostsRunning(String vmName) {
    return hosts.values().stream()
        .filter(h -> h.stateOf(vmName).filter("Running"::equals).isPresent())
        .map(SimulatedHyperVHost::computerName).sorted().toList();
  }

  /** How fast live migrations transfer memory (and disks, when storage moves too). */
  public HyperVNetwork migrationBandwidth(long bytesPerSecond) {
    this.migrationBytesPerSecond = bytesPerSecond;
    return this;
  }

  long migrationBytesPerSecond() {
    return migrationBytesPerSecond;
  }
}
