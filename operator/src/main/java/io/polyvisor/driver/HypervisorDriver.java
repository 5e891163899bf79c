package io.polyvisor.driver;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * What the operator can ask of a hypervisor host. One instance serves every host of its kind and
 * keeps its own connections; every call names the host. Calls block and may throw {@link
 * HypervisorException}; none of them acts on a guest the operator did not create.
 */
public interface HypervisorDriver extends AutoCloseable {

  /**
   * What is wrong with the driver itself, if anything (not with a host: those are reported per
   * VM): a problem here means the process cannot work and should be restarted.
   */
  default Optional<String> problem() {
    return Optional.empty();
  }

  /**
   * Why the guest, as it runs on {@code source}, could not run on {@code target} (its CPU model
   * needs features the target lacks, say); empty when it can, or when the driver cannot tell.
   */
  default Optional<String> whyTargetCannotRunIt(Host source, Host target, String uid) {
    return Optional.empty();
  }

  /** The named CPU models the host's hypervisor can give guests; {@link HostCpuModels#UNKNOWN} when it does not say. */
  default HostCpuModels cpuModels(Host host) {
    return HostCpuModels.UNKNOWN;
  }

  /**
   * The CPU time each running guest on the host has used since its process started, in
   * nanoseconds, by uid (the guest's id on the host, which is its VM's uid); empty when the
   * hypervisor does not count it. A guest that moves starts again from 0 on its new host.
   */
  default Map<String, Long> cpuTimes(Host host) {
    return Map.of();
  }

  /** Memory and CPUs of the host, as the hypervisor reports them. */
  HostCapacity capacity(Host host);

  /** The guest with this uid on this host, if it is there and ours. */
  Optional<GuestInfo> find(Host host, String uid);

  /** Every guest on the host that the operator created (found by its metadata). */
  List<GuestInfo> list(Host host);

  /**
   * Defines the guest, or redefines it when it exists and is not running. Redefining a running
   * guest changes its persistent configuration only; the running guest keeps its current one
   * until it restarts.
   */
  GuestInfo define(Host host, GuestSpec spec);

  /** Powers on a defined guest; does nothing when it is already running. */
  void start(Host host, String uid);

  /**
   * Asks the guest OS to shut down and waits up to {@code timeout}.
   *
   * @return true when the guest stopped within the timeout
   */
  boolean shutdown(Host host, String uid, Duration timeout);

  /** Resumes a paused guest; does nothing when it runs already. */
  default void resume(Host host, String uid) {
    throw new HypervisorException("NOT_SUPPORTED", "this driver cannot resume a paused guest on " + host);
  }

  /** Pauses a running guest (its vCPUs stop; nothing is lost); does nothing when it is paused already. */
  default void pause(Host host, String uid) {
    throw new HypervisorException("NOT_SUPPORTED", "this driver cannot pause a guest on " + host);
  }

  /** Cuts the guest's power at once; does nothing when it is already off. */
  void forceStop(Host host, String uid);

  /** Removes the guest's definition (never its volumes); does nothing when it is not there. */
  void undefine(Host host, String uid);

  /** Sets the memory the running guest may use now (balloon target), between its minimum and maximum. */
  void setMemoryTarget(Host host, String uid, long bytes);

  /**
   * What of the wanted memory the guest's host can take while the guest runs, read from the
   * settings the host reported ({@link GuestInfo#memorySettings()}) without calling it; {@link
   * MemoryChange#NONE} where the operator balances memory itself.
   */
  default MemoryChange memoryChange(GuestInfo guest, GuestSpec.GuestMemory wanted) {
    return MemoryChange.NONE;
  }

  /** Applies {@link MemoryChange#live()} to the running guest. */
  default void changeMemory(Host host, String uid, GuestSpec.GuestMemory settings) {
    throw new HypervisorException("NOT_SUPPORTED", "this driver cannot change a running guest's memory settings on " + host);
  }

  /** The guest's own view of its memory, when the guest reports it (balloon driver statistics). */
  Optional<GuestMemoryStats> memoryStats(Host host, String uid);

  /** Creates the volume (filled from its source when it has one); returns it when it exists already. */
  Volume createVolume(Host host, VolumeSpec spec);

  /** Deletes the volume; does nothing when it is not there. */
  void deleteVolume(Host host, StoragePoolSpec pool, String volumeName);

  /**
   * Starts a live migration of a running guest to another host of the same driver. The source host
   * drives the transfer (it goes on if this process dies); the returned job reports progress, can
   * be aborted, and completes when the hypervisor's call returns. How it says the move ended is a
   * hint: the caller reads both hosts ({@link #find}, {@link #migrationMark}) to know.
   */
  MigrationJob migrate(Host source, Host target, String uid, MigrationOptions options);

  /**
   * Moves a shut-off guest to another host of the same driver: unless they are on shared storage,
   * its disks are copied into pools of the same names on the target (replacing what an interrupted
   * copy left there), then its definition moves. Afterwards the guest is defined, shut off, on the
   * target only. The source's volumes are left for the caller to delete.
   *
   * @param progress receives the bytes copied so far
   */
  void moveStopped(Host source, Host target, String uid, boolean sharedStorage, Consumer<MigrationProgress> progress);

  /**
   * A live migration of the guest from source to target that the hypervisor still runs without
   * the process that started it (libvirt's peer-to-peer migrations and Hyper-V's Move-VM are run
   * by the source host and outlive their client), followed again. Empty when there is none.
   */
  default Optional<MigrationJob> reattach(Host source, Host target, String uid) {
    return Optional.empty();
  }

  /**
   * What a migration left on the guest's copy on this host: a job under way, a pause, a post-copy
   * split. {@link MigrationMark#NONE} when there is no copy.
   */
  default MigrationMark migrationMark(Host host, String uid) {
    return MigrationMark.NONE;
  }

  /** Receives lifecycle events of every guest on every host this driver has connected to. */
  void addEventListener(Consumer<GuestEvent> listener);

  @Override
  void close();
}
