package io.polyvisor.testing;

import io.polyvisor.driver.GuestEvent;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestMemoryStats;
import io.polyvisor.driver.GuestNotFoundException;
import io.polyvisor.driver.GuestSpec;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HostCapacity;
import io.polyvisor.driver.HypervisorDriver;
import io.polyvisor.driver.MigrationJob;
import io.polyvisor.driver.MigrationOptions;
import io.polyvisor.driver.StoragePoolSpec;
import io.polyvisor.driver.Volume;
import io.polyvisor.driver.VolumeSpec;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * A hypervisor in memory, for unit tests of the reconcilers' logic: guests and volumes per node,
 * and a log of the calls that changed something. Never evidence that a feature works on a real
 * hypervisor; the *IT tests are.
 */
public final class FakeDriver implements HypervisorDriver {

  /** Guests by node name, then uid. */
  public final Map<String, Map<String, GuestInfo>> guests = new HashMap<>();
  public final Map<String, Map<String, Volume>> volumes = new HashMap<>();
  public final Map<String, GuestMemoryStats> stats = new HashMap<>();
  public final List<String> calls = new ArrayList<>();
  /** Nodes whose host does not answer: every call on them fails as an unreachable host's would. */
  public final java.util.Set<String> unreachable = new java.util.HashSet<>();

  @Override
  public HostCapacity capacity(Host host) {
    return new HostCapacity(8L << 30, 4L << 30, 4);
  }

  @Override
  public Optional<GuestInfo> find(Host host, String uid) {
    if (unreachable.contains(host.nodeName())) {
      throw new io.polyvisor.driver.HostUnreachableException("UNREACHABLE", "cannot connect to " + host + ": connection refused", null);
    }
    return Optional.ofNullable(on(host).get(uid));
  }

  @Override
  public List<GuestInfo> list(Host host) {
    return List.copyOf(on(host).values());
  }

  @Override
  public GuestInfo define(Host host, GuestSpec spec) {
    calls.add("define " + spec.id().name() + " on " + host.nodeName());
    GuestInfo existing = on(host).get(spec.id().uid());
    GuestInfo defined = new GuestInfo(spec.id(), existing == null ? GuestState.SHUT_OFF : existing.state(),
        spec.memory().currentBytes(), spec.memory().maximumBytes(),
        existing != null && existing.state().isActive() ? existing.revision() : spec.revision());
    on(host).put(spec.id().uid(), defined);
    return defined;
  }

  @Override
  public void start(Host host, String uid) {
    calls.add("start " + name(host, uid) + " on " + host.nodeName());
    setState(host, uid, GuestState.RUNNING);
  }

  @Override
  public boolean shutdown(Host host, String uid, Duration timeout) {
    calls.add("shutdown " + name(host, uid) + " on " + host.nodeName());
    return false;
  }

  @Override
  public void forceStop(Host host, String uid) {
    if (on(host).containsKey(uid)) {
      calls.add("forceStop " + name(host, uid) + " on " + host.nodeName());
      setState(host, uid, GuestState.SHUT_OFF);
    }
  }

  @Override
  public void undefine(Host host, String uid) {
    if (on(host).remove(uid) != null) {
      calls.add("undefine " + uid + " on " + host.nodeName());
    }
  }

  @Override
  public void setMemoryTarget(Host host, String uid, long bytes) {
    calls.add("setMemoryTarget " + name(host, uid) + " " + (bytes >> 20) + "Mi");
    GuestInfo g = guest(host, uid);
    on(host).put(uid, new GuestInfo(g.id(), g.state(), bytes, g.maximumMemoryBytes(), g.revision()));
  }

  @Override
  public Optional<GuestMemoryStats> memoryStats(Host host, String uid) {
    return Optional.ofNullable(stats.get(uid));
  }

  @Override
  public Volume createVolume(Host host, VolumeSpec spec) {
    return volumes.computeIfAbsent(host.nodeName(), n -> new HashMap<>()).computeIfAbsent(spec.name(),
        n -> new Volume(spec.pool().name(), n, "/pool/" + n, spec.pool().format(), spec.capacityBytes()));
  }

  @Override
  public void deleteVolume(Host host, StoragePoolSpec pool, String volumeName) {
    volumes.getOrDefault(host.nodeName(), new HashMap<>()).remove(volumeName);
  }

  @Override
  public MigrationJob migrate(Host source, Host target, String uid, MigrationOptions options) {
    throw new UnsupportedOperationException("not needed by these tests");
  }

  @Override
  public void moveStopped(Host source, Host target, String uid, boolean sharedStorage,
      Consumer<io.polyvisor.driver.MigrationProgress> progress) {
    throw new UnsupportedOperationException("not needed by these tests");
  }

  @Override
  public void addEventListener(Consumer<GuestEvent> listener) {}

  @Override
  public void close() {}

  /** Puts a guest in a state behind the reconciler's back. */
  public void setState(Host host, String uid, GuestState state) {
    GuestInfo g = guest(host, uid);
    on(host).put(uid, new GuestInfo(g.id(), state, g.currentMemoryBytes(), g.maximumMemoryBytes(), g.revision()));
  }

  private GuestInfo guest(Host host, String uid) {
    GuestInfo guest = on(host).get(uid);
    if (guest == null) {
      throw new GuestNotFoundException(host, uid);
    }
    return guest;
  }

  private String name(Host host, String uid) {
    return guest(host, uid).id().name();
  }

  private Map<String, GuestInfo> on(Host host) {
    return guests.computeIfAbsent(host.nodeName(), n -> new HashMap<>());
  }
}
