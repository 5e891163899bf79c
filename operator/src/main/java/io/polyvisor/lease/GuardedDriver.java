package io.polyvisor.lease;

import io.polyvisor.driver.GuestEvent;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestMemoryStats;
import io.polyvisor.driver.GuestSpec;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HostCapacity;
import io.polyvisor.driver.HypervisorDriver;
import io.polyvisor.driver.MigrationJob;
import io.polyvisor.driver.MigrationMark;
import io.polyvisor.driver.MigrationOptions;
import io.polyvisor.driver.MigrationProgress;
import io.polyvisor.driver.StoragePoolSpec;
import io.polyvisor.driver.Volume;
import io.polyvisor.driver.VolumeSpec;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * A driver that checks the {@link LeaseGuard} right before each call that stops, removes, defines
 * or starts a guest or a volume, or starts a transfer; reads, and creating a volume that may exist
 * already (a no-op then, and harmless otherwise), go through unchecked.
 */
public final class GuardedDriver implements HypervisorDriver {

  private final HypervisorDriver driver;
  private final LeaseGuard guard;

  public GuardedDriver(HypervisorDriver driver, LeaseGuard guard) {
    this.driver = driver;
    this.guard = guard;
  }

  @Override
  public Optional<String> problem() {
    return driver.problem();
  }

  @Override
  public Optional<String> whyTargetCannotRunIt(Host source, Host target, String uid) {
    return driver.whyTargetCannotRunIt(source, target, uid);
  }

  @Override
  public io.polyvisor.driver.HostCpuModels cpuModels(Host host) {
    return driver.cpuModels(host);
  }

  @Override
  public java.util.Map<String, Long> cpuTimes(Host host) {
    return driver.cpuTimes(host);
  }

  @Override
  public HostCapacity capacity(Host host) {
    return driver.capacity(host);
  }

  @Override
  public Optional<GuestInfo> find(Host host, String uid) {
    return driver.find(host, uid);
  }

  @Override
  public List<GuestInfo> list(Host host) {
    return driver.list(host);
  }

  @Override
  public MigrationMark migrationMark(Host host, String uid) {
    return driver.migrationMark(host, uid);
  }

  @Override
  public GuestInfo define(Host host, GuestSpec spec) {
    guard.checkHeld("defining guest " + spec.id().uid() + " on " + host.nodeName());
    return driver.define(host, spec);
  }

  @Override
  public void start(Host host, String uid) {
    guard.checkHeld("starting guest " + uid + " on " + host.nodeName());
    driver.start(host, uid);
  }

  @Override
  public boolean shutdown(Host host, String uid, Duration timeout) {
    guard.checkHeld("shutting down guest " + uid + " on " + host.nodeName());
    return driver.shutdown(host, uid, timeout);
  }

  @Override
  public void resume(Host host, String uid) {
    guard.checkHeld("resuming guest " + uid + " on " + host.nodeName());
    driver.resume(host, uid);
  }

  @Override
  public void pause(Host host, String uid) {
    guard.checkHeld("pausing guest " + uid + " on " + host.nodeName());
    driver.pause(host, uid);
  }

  @Override
  public void forceStop(Host host, String uid) {
    guard.checkHeld("forcing off guest " + uid + " on " + host.nodeName());
    driver.forceStop(host, uid);
  }

  @Override
  public void undefine(Host host, String uid) {
    guard.checkHeld("undefining guest " + uid + " on " + host.nodeName());
    driver.undefine(host, uid);
  }

  @Override
  public void setMemoryTarget(Host host, String uid, long bytes) {
    driver.setMemoryTarget(host, uid, bytes);
  }

  @Override
  public io.polyvisor.driver.MemoryChange memoryChange(GuestInfo guest, GuestSpec.GuestMemory wanted) {
    return driver.memoryChange(guest, wanted);
  }

  /** Checked as a definition is: it writes the guest's configuration on its host. */
  @Override
  public void changeMemory(Host host, String uid, GuestSpec.GuestMemory settings) {
    guard.checkHeld("changing the memory settings of guest " + uid + " on " + host.nodeName());
    driver.changeMemory(host, uid, settings);
  }

  @Override
  public Optional<GuestMemoryStats> memoryStats(Host host, String uid) {
    return driver.memoryStats(host, uid);
  }

  @Override
  public Volume createVolume(Host host, VolumeSpec spec) {
    return driver.createVolume(host, spec);
  }

  @Override
  public void deleteVolume(Host host, StoragePoolSpec pool, String volumeName) {
    guard.checkHeld("deleting volume " + volumeName + " on " + host.nodeName());
    driver.deleteVolume(host, pool, volumeName);
  }

  @Override
  public MigrationJob migrate(Host source, Host target, String uid, MigrationOptions options) {
    guard.checkHeld("migrating guest " + uid + " from " + source.nodeName() + " to " + target.nodeName());
    return driver.migrate(source, target, uid, options);
  }

  @Override
  public void moveStopped(Host source, Host target, String uid, boolean sharedStorage, Consumer<MigrationProgress> progress) {
    guard.checkHeld("moving guest " + uid + " from " + source.nodeName() + " to " + target.nodeName());
    driver.moveStopped(source, target, uid, sharedStorage, progress);
  }

  @Override
  public Optional<MigrationJob> reattach(Host source, Host target, String uid) {
    return driver.reattach(source, target, uid);
  }

  @Override
  public void addEventListener(Consumer<GuestEvent> listener) {
    driver.addEventListener(listener);
  }

  @Override
  public void close() {
    driver.close();
  }
}
