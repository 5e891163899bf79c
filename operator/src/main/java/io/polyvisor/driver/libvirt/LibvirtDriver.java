package io.polyvisor.driver.libvirt;

import com.sun.jna.Pointer;
import io.polyvisor.api.v1alpha1.NumaPlacement;
import io.polyvisor.driver.GuestEvent;
import io.polyvisor.driver.GuestId;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestMemoryStats;
import io.polyvisor.driver.GuestNotFoundException;
import io.polyvisor.driver.GuestSpec;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HostCalls;
import io.polyvisor.driver.HostCapacity;
import io.polyvisor.driver.HostUnreachableException;
import io.polyvisor.driver.HypervisorDriver;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.driver.MigrationJob;
import io.polyvisor.driver.MigrationMark;
import io.polyvisor.driver.MigrationOptions;
import io.polyvisor.driver.MigrationProgress;
import io.polyvisor.driver.StoragePoolSpec;
import io.polyvisor.driver.Volume;
import io.polyvisor.driver.VolumeSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.libvirt.Domain;
import org.libvirt.DomainInfo;
import org.libvirt.Error.ErrorNumber;
import org.libvirt.LibvirtException;
import org.libvirt.MemoryStatistic;
import org.libvirt.NodeInfo;
import org.libvirt.event.DomainEventType;
import org.libvirt.event.LifecycleListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * KVM hosts through libvirt. Guests are domains whose UUID is the VirtualMachine's uid and whose
 * {@code <metadata>} records the owner; a domain without that record is never touched.
 */
public final class LibvirtDriver implements HypervisorDriver {

  private static final Logger log = LoggerFactory.getLogger(LibvirtDriver.class);
  private static final Duration SHUTDOWN_POLL = Duration.ofMillis(250);

  // virDomainMemoryStatTags, from libvirt-domain.h.
  private static final int STAT_AVAILABLE = 5;
  private static final int STAT_ACTUAL_BALLOON = 6;
  private static final int STAT_USABLE = 8;
  private static final int STAT_COUNT = 13;

  // virDomainUndefineFlagsValues: also drop managed-save images and snapshot metadata.
  private static final int UNDEFINE_FLAGS = 1 | 2;
  // virDomainXMLFlags: the persistent definition, with any secrets it holds.
  private static final int XML_SECURE = 1;
  private static final int XML_INACTIVE = 2;
  /** libvirt's error code for a CPU the host cannot run (newer than libvirt-java's ErrorNumber). */
  private static final int VIR_ERR_CPU_INCOMPATIBLE = 91;
  /** libvirt's error code for a call the connection's driver does not implement. */
  private static final int VIR_ERR_NO_SUPPORT = 3;

  private final List<Consumer<GuestEvent>> listeners = new CopyOnWriteArrayList<>();
  private final LibvirtConnections connections;
  private final LibvirtStorage storage = new LibvirtStorage();

  /** With the default call timeout ({@link HostCalls#DEFAULT_TIMEOUT}). */
  public LibvirtDriver() {
    this(HostCalls.DEFAULT_TIMEOUT);
  }

  /**
   * @param callTimeout how long a caller waits for libvirtd to answer one call (copies of disk
   *     bytes excepted, see {@link LibvirtConnections})
   */
  public LibvirtDriver(Duration callTimeout) {
    this(callTimeout, LibvirtCredentials.DEFAULTS);
  }

  /**
   * @param callTimeout as above
   * @param credentials where the TLS client files of hosts with {@code qemu+tls://} endpoints are
   */
  public LibvirtDriver(Duration callTimeout, LibvirtCredentials credentials) {
    connections = new LibvirtConnections(this::watch, callTimeout, credentials);
  }

  @Override
  public HostCapacity capacity(Host host) {
    return connections.call(host, "read capacity", c -> {
      NodeInfo node = c.nodeInfo();
      return new HostCapacity(node.memory * 1024, c.getFreeMemory(), node.cpus);
    });
  }

  @Override
  public io.polyvisor.driver.HostCpuModels cpuModels(Host host) {
    return connections.call(host, "read the CPU models", c -> capabilities(host, c).cpuModels());
  }

  @Override
  public Optional<GuestInfo> find(Host host, String uid) {
    return connections.call(host, "look up guest " + uid, c -> {
      Optional<Domain> domain = lookup(c, uid);
      if (domain.isEmpty()) {
        return Optional.<GuestInfo>empty();
      }
      try {
        return describe(c, domain.get());
      } catch (LibvirtException e) {
        // Undefined between the lookup and the read (the end of a move): it is not there.
        if (LibvirtErrors.code(e) == ErrorNumber.VIR_ERR_NO_DOMAIN) {
          return Optional.<GuestInfo>empty();
        }
        throw e;
      }
    });
  }

  @Override
  public Map<String, Long> cpuTimes(Host host) {
    return connections.call(host, "read the guests' CPU time", c -> {
      // Every active domain by UUID, without reading its XML: the caller looks up the uids of its VMs.
      Map<String, Long> times = new java.util.HashMap<>();
      for (int id : c.listDomains()) {
        try {
          Domain domain = c.domainLookupByID(id);
          times.put(domain.getUUIDString(), domain.getInfo().cpuTime);
        } catch (LibvirtException e) {
          if (LibvirtErrors.code(e) != ErrorNumber.VIR_ERR_NO_DOMAIN) {
            throw e; // else it stopped between listing and lookup
          }
        }
      }
      return times;
    });
  }

  @Override
  public List<GuestInfo> list(Host host) {
    return connections.call(host, "list guests", c -> {
      List<Domain> domains = new ArrayList<>();
      for (int id : c.listDomains()) {
        domains.add(c.domainLookupByID(id));
      }
      for (String name : c.listDefinedDomains()) {
        domains.add(c.domainLookupByName(name));
      }
      List<GuestInfo> ours = new ArrayList<>();
      for (Domain domain : domains) {
        try {
          describe(c, domain).ifPresent(ours::add);
        } catch (LibvirtException e) {
          // Gone between listing and lookup (a migration ended, a transient guest stopped).
          if (LibvirtErrors.code(e) != ErrorNumber.VIR_ERR_NO_DOMAIN) {
            throw e;
          }
        }
      }
      return ours;
    });
  }

  /** How long a host's capabilities are believed: they change when its hardware or QEMU does. */
  private static final Duration CAPABILITIES_KEPT = Duration.ofMinutes(10);

  private record Read(HostCapabilities capabilities, Instant at) {}

  /**
   * Each host's capabilities, read at most every {@link #CAPABILITIES_KEPT}: libvirtd rebuilds
   * them on every request (it probes the host and QEMU), which takes seconds on a busy host.
   */
  private final Map<String, Read> capabilities = new ConcurrentHashMap<>();

  private HostCapabilities capabilities(Host host, LibvirtConnection c) throws LibvirtException {
    Read read = capabilities.get(host.endpoint());
    if (read == null || read.at().plus(CAPABILITIES_KEPT).isBefore(Instant.now())) {
      Optional<String> kvm = domainCapabilities(c, "kvm");
      HostCapabilities offered;
      if (kvm.isPresent()) {
        offered = HostCapabilities.fromDomainCapabilities(true, kvm.get());
      } else if (LibvirtNative.INSTANCE.virGetLastErrorCode() == VIR_ERR_NO_SUPPORT) {
        // A driver without domain capabilities (test://): its host capabilities say enough.
        offered = HostCapabilities.parse(c.getCapabilities());
      } else {
        offered = HostCapabilities.fromDomainCapabilities(false, domainCapabilities(c, "qemu").orElseThrow(() -> new HypervisorException(
            "NO_QEMU", host + " offers neither KVM nor QEMU emulation for " + HostCapabilities.ARCH + " guests: "
                + LibvirtErrors.lastMessage())));
      }
      read = new Read(offered, Instant.now());
      capabilities.put(host.endpoint(), read);
    }
    return read.capabilities();
  }

  private static Optional<String> domainCapabilities(LibvirtConnection c, String type) {
    LibvirtNative lib = LibvirtNative.INSTANCE;
    Pointer xml = lib.virConnectGetDomainCapabilities(c.pointer(), null, HostCapabilities.ARCH, null, type, 0);
    if (xml == null) {
      return Optional.empty();
    }
    try {
      return Optional.of(xml.getString(0, "UTF-8"));
    } finally {
      com.sun.jna.Native.free(Pointer.nativeValue(xml));
    }
  }

  @Override
  public Optional<String> problem() {
    return LibvirtConnections.eventLoopRuns() ? Optional.empty()
        : Optional.of("libvirt's event loop stopped: no guest event or keepalive is received any more");
  }

  /**
   * Compares the CPU the guest runs with (its live definition: host-model expanded to a named
   * model and features) with what the target's hypervisor can give a guest of that type and
   * machine, as libvirt does before a migration; asked before one is started, so that a target
   * that cannot run it is never chosen.
   */
  @Override
  public Optional<String> whyTargetCannotRunIt(Host source, Host target, String uid) {
    String live = connections.call(source, "read the CPU of guest " + uid, c -> owned(c, source, uid).getXMLDesc(0));
    LibvirtDomainXml.GuestCpu cpu = LibvirtDomainXml.guestCpu(live);
    if (cpu.xml().isEmpty()) {
      return Optional.empty(); // no CPU element: QEMU's default model, which every host runs
    }
    return compare(target, cpu, "guest " + uid);
  }

  /** Why {@code target} cannot give a guest this CPU; empty when it can. */
  Optional<String> compare(Host target, LibvirtDomainXml.GuestCpu cpu, String whose) {
    return connections.call(target, "compare the CPU of " + whose, c -> {
      int result = LibvirtNative.INSTANCE.virConnectCompareHypervisorCPU(c.pointer(), null, HostCapabilities.ARCH, cpu.machine(),
          cpu.domainType(), cpu.xml().orElseThrow(), LibvirtNative.COMPARE_CPU_FAIL_INCOMPATIBLE);
      if (result > 0) {
        return Optional.<String>empty();
      }
      int code = LibvirtNative.INSTANCE.virGetLastErrorCode();
      String message = LibvirtErrors.lastMessage();
      if (result < 0 && code != VIR_ERR_CPU_INCOMPATIBLE) {
        // The host cannot tell (its QEMU does not report CPU models for this type, say): libvirt
        // checks again when the migration starts, and refuses it there if it must.
        log.info("cannot compare the CPU of {} with {}: {}", whose, target, message);
        return Optional.<String>empty();
      }
      return Optional.of("the CPU of " + whose + " (" + cpu.model() + ") cannot run on " + target.nodeName() + ": " + message);
    });
  }

  @Override
  public GuestInfo define(Host host, GuestSpec spec) {
    return connections.call(host, "define guest " + spec.id(), c -> {
      Optional<Domain> existing = lookup(c, spec.id().uid());
      if (existing.isPresent() && LibvirtDomainXml.owner(existing.get().getXMLDesc(0)).isEmpty()) {
        throw new HypervisorException(
            "NOT_OWNED", "a domain with uuid " + spec.id().uid() + " on " + host + " was not created by Polyvisor; leaving it alone");
      }
      // KVM where the host offers it; a guest defined before keeps its type and machine.
      LibvirtDomainXml.Hardware hardware = LibvirtDomainXml.Hardware.of(
          existing.isPresent() ? Optional.of(existing.get().getXMLDesc(XML_INACTIVE)) : Optional.empty(),
          capabilities(host, c));
      String xml =
          LibvirtDomainXml.render(spec, network -> isNetwork(c, network), numaNodeset(c, spec.numa()), hardware);
      Domain domain = c.domainDefineXML(xml);
      return describe(c, domain).orElseThrow();
    });
  }

  @Override
  public void start(Host host, String uid) {
    connections.call(host, "start guest " + uid, c -> {
      Domain domain = owned(c, host, uid);
      if (domain.isActive() == 0) {
        domain.create();
      }
      return null;
    });
  }

  @Override
  public boolean shutdown(Host host, String uid, Duration timeout) {
    Instant deadline = Instant.now().plus(timeout);
    boolean active = connections.call(host, "shut down guest " + uid, c -> {
      Domain domain = owned(c, host, uid);
      if (domain.isActive() == 0) {
        return false;
      }
      domain.shutdown();
      return true;
    });
    while (active && Instant.now().isBefore(deadline)) {
      HostCalls.pauseForShutdown(SHUTDOWN_POLL);
      active = find(host, uid).map(g -> g.state().isActive()).orElse(false);
    }
    return !active;
  }

  @Override
  public void resume(Host host, String uid) {
    connections.call(host, "resume guest " + uid, c -> {
      Domain domain = owned(c, host, uid);
      if (domain.getInfo().state == DomainInfo.DomainState.VIR_DOMAIN_PAUSED) {
        domain.resume();
      }
      return null;
    });
  }

  @Override
  public void pause(Host host, String uid) {
    connections.call(host, "pause guest " + uid, c -> {
      Domain domain = owned(c, host, uid);
      if (domain.getInfo().state == DomainInfo.DomainState.VIR_DOMAIN_RUNNING) {
        domain.suspend();
      }
      return null;
    });
  }

  @Override
  public MigrationMark migrationMark(Host host, String uid) {
    return connections.call(host, "read the migration state of " + uid, c -> {
      Optional<Domain> domain = lookupOwned(c, uid);
      return domain.isEmpty() ? MigrationMark.NONE : LibvirtMigrationMarks.read(c, host, domain.get(), uid);
    });
  }

  @Override
  public Optional<MigrationJob> reattach(Host source, Host target, String uid) {
    // The job is the source's: a target that does not answer only costs the final statistics.
    LibvirtConnection targetConnection;
    try {
      targetConnection = connections.connection(target);
    } catch (HostUnreachableException e) {
      targetConnection = null;
    }
    LibvirtConnection toTarget = targetConnection;
    return connections.call(source, "look for a migration of " + uid + " to " + target, c -> {
      Optional<Domain> domain = lookupOwned(c, uid);
      return domain.flatMap(d -> LibvirtMigration.follow(source, c, d, target, toTarget, uid).map(MigrationJob.class::cast));
    });
  }

  @Override
  public void forceStop(Host host, String uid) {
    connections.call(host, "force stop guest " + uid, c -> {
      Optional<Domain> domain = lookupOwned(c, uid);
      if (domain.isPresent() && domain.get().isActive() != 0) {
        try {
          domain.get().destroy();
        } catch (LibvirtException e) {
          // A guest that libvirt made only for an incoming migration is gone once its QEMU is:
          // the destroy did what it was asked, then could not find the domain to report on.
          if (LibvirtErrors.code(e) != ErrorNumber.VIR_ERR_NO_DOMAIN) {
            throw e;
          }
        }
      }
      return null;
    });
  }

  @Override
  public void undefine(Host host, String uid) {
    connections.call(host, "undefine guest " + uid, c -> {
      Optional<Domain> domain = lookupOwned(c, uid);
      if (domain.isPresent() && domain.get().isPersistent() == 1) {
        domain.get().undefine(UNDEFINE_FLAGS);
      }
      return null;
    });
  }

  @Override
  public void setMemoryTarget(Host host, String uid, long bytes) {
    connections.call(host, "set memory target of " + uid, c -> {
      owned(c, host, uid).setMemory(bytes / 1024);
      return null;
    });
  }

  @Override
  public Optional<GuestMemoryStats> memoryStats(Host host, String uid) {
    return connections.call(host, "read memory statistics of " + uid, c -> {
      Domain domain = owned(c, host, uid);
      if (domain.isActive() == 0) {
        return Optional.<GuestMemoryStats>empty();
      }
      long balloon = -1;
      long available = -1;
      long usable = -1;
      for (MemoryStatistic stat : domain.memoryStats(STAT_COUNT)) {
        switch (stat.getTag()) {
          case STAT_ACTUAL_BALLOON -> balloon = stat.getValue() * 1024;
          case STAT_AVAILABLE -> available = stat.getValue() * 1024;
          case STAT_USABLE -> usable = stat.getValue() * 1024;
          default -> { }
        }
      }
      // available and usable come from the guest's balloon driver: absent until it reports.
      if (balloon < 0 || available < 0 || usable < 0) {
        return Optional.<GuestMemoryStats>empty();
      }
      // A balloon that deflates on demand stays counted in the guest's total, as used memory.
      boolean autoDeflate = LibvirtDomainXml.balloonAutoDeflates(domain.getXMLDesc(0));
      long inflated = autoDeflate ? Math.max(0, domain.getMaxMemory() * 1024 - balloon) : 0;
      return Optional.of(new GuestMemoryStats(balloon, available, usable, inflated));
    });
  }

  @Override
  public Volume createVolume(Host host, VolumeSpec spec) {
    String what = "create volume " + spec.name() + " in pool " + spec.pool().name();
    if (spec.source().isEmpty()) {
      return connections.call(host, what, c -> storage.create(host, c, spec));
    }
    // Cloning a file or streaming an http image takes as long as the image is large, so it has no
    // deadline; looking into the pool first has one (a refresh hangs on a dead NFS server).
    Optional<Volume> existing = connections.call(host, "look for volume " + spec.name() + " in pool " + spec.pool().name(),
        c -> storage.find(c, spec.pool(), spec.name()));
    return existing.isPresent() ? existing.get() : connections.longCall(host, what, c -> storage.create(host, c, spec));
  }

  @Override
  public void deleteVolume(Host host, StoragePoolSpec pool, String volumeName) {
    connections.call(host, "delete volume " + volumeName + " in pool " + pool.name(), c -> {
      storage.delete(c, pool, volumeName);
      return null;
    });
  }

  @Override
  public void moveStopped(Host source, Host target, String uid, boolean sharedStorage, Consumer<MigrationProgress> progress) {
    LibvirtConnection targetConnection = connections.connection(target);
    String what = "move shut-off guest " + uid + " to " + target;
    // Copying the disks takes as long as they are large; moving the definition alone is quick.
    LibvirtConnections.Call<Void> move = c -> {
      Domain domain = owned(c, source, uid);
      if (domain.isActive() != 0) {
        throw new HypervisorException("RUNNING", "guest " + uid + " on " + source + " is running; it must be shut off to move this way");
      }
      String definition = domain.getXMLDesc(XML_INACTIVE | XML_SECURE);
      if (!sharedStorage) {
        storage.copyDisks(source, c, target, targetConnection, definition, progress);
      }
      // Defined on the target before it is undefined here: a crash in between leaves two shut-off
      // definitions, which the caller resolves (the target's exists only once the disks are there).
      targetConnection.domainDefineXML(definition);
      domain.undefine(UNDEFINE_FLAGS);
      log.info("moved shut-off guest {} from {} to {}", uid, source, target);
      return null;
    };
    if (sharedStorage) {
      connections.call(source, what, move);
    } else {
      connections.longCall(source, what, move);
    }
  }

  @Override
  public MigrationJob migrate(Host source, Host target, String uid, MigrationOptions options) {
    LibvirtConnection targetConnection = connections.connection(target);
    return connections.call(source, "start migration of " + uid + " to " + target, c -> {
      Domain domain = owned(c, source, uid);
      if (domain.isActive() == 0) {
        throw new HypervisorException("NOT_RUNNING", "guest " + uid + " on " + source + " is not running; only a running guest can be live-migrated");
      }
      if (!options.sharedStorage()) {
        storage.replicatePools(c, targetConnection, domain.getXMLDesc(0));
      }
      return LibvirtMigration.start(source, c, domain, target, targetConnection, uid, options);
    });
  }

  @Override
  public void addEventListener(Consumer<GuestEvent> listener) {
    listeners.add(listener);
  }

  @Override
  public void close() {
    connections.close();
  }

  /** Subscribes to the connection's domain lifecycle events; returns the unsubscription. */
  private Runnable watch(Host host, LibvirtConnection connection) {
    LifecycleListener listener =
        (domain, event) -> {
          try {
            GuestEvent guestEvent = new GuestEvent(host, domain.getUUIDString(), type(event.getType()), event.toString());
            listeners.forEach(l -> l.accept(guestEvent));
          } catch (LibvirtException | RuntimeException e) {
            log.warn("cannot deliver a libvirt event from {}: {}", host, e.getMessage());
          }
          return 0;
        };
    try {
      connection.addLifecycleListener(listener);
    } catch (LibvirtException e) {
      log.warn("no lifecycle events from {}: {}; relying on resync", host, e.getMessage());
      return () -> { };
    }
    return () -> {
      try {
        connection.removeLifecycleListener(listener);
      } catch (LibvirtException e) {
        log.debug("unsubscribing from {}: {}", host, e.getMessage());
      }
    };
  }

  private static GuestEvent.Type type(DomainEventType type) {
    return switch (type) {
      case DEFINED -> GuestEvent.Type.DEFINED;
      case UNDEFINED -> GuestEvent.Type.UNDEFINED;
      case STARTED -> GuestEvent.Type.STARTED;
      case SUSPENDED -> GuestEvent.Type.SUSPENDED;
      case RESUMED -> GuestEvent.Type.RESUMED;
      case STOPPED -> GuestEvent.Type.STOPPED;
      case SHUTDOWN -> GuestEvent.Type.SHUTDOWN;
      case CRASHED -> GuestEvent.Type.CRASHED;
      default -> GuestEvent.Type.OTHER;
    };
  }

  private static Optional<Domain> lookup(LibvirtConnection c, String uid) throws LibvirtException {
    try {
      return Optional.of(c.domainLookupByUUIDString(uid));
    } catch (LibvirtException e) {
      if (LibvirtErrors.code(e) == ErrorNumber.VIR_ERR_NO_DOMAIN) {
        return Optional.empty();
      }
      throw e;
    }
  }

  private static Optional<Domain> lookupOwned(LibvirtConnection c, String uid) throws LibvirtException {
    Optional<Domain> domain = lookup(c, uid);
    if (domain.isPresent() && LibvirtDomainXml.owner(domain.get().getXMLDesc(0)).isEmpty()) {
      return Optional.empty();
    }
    return domain;
  }

  private static Domain owned(LibvirtConnection c, Host host, String uid) throws LibvirtException {
    return lookupOwned(c, uid).orElseThrow(() -> new GuestNotFoundException(host, uid));
  }

  private static Optional<GuestInfo> describe(LibvirtConnection c, Domain domain) throws LibvirtException {
    String xml = domain.getXMLDesc(0);
    Optional<GuestId> owner = LibvirtDomainXml.owner(xml);
    if (owner.isEmpty()) {
      return Optional.empty();
    }
    DomainInfo info = domain.getInfo();
    GuestState state = state(info.state);
    if (state == GuestState.SHUT_OFF && crashed(c, owner.get().uid())) {
      state = GuestState.CRASHED;
    }
    return Optional.of(
        new GuestInfo(owner.get(), state, info.memory * 1024, info.maxMem * 1024, LibvirtDomainXml.revision(xml),
            LibvirtDomainXml.emulated(xml), LibvirtDomainXml.namedCpuModel(xml)));
  }

  /** Whether a shut-off domain stopped because it crashed: the reason is only in virDomainGetState. */
  private static boolean crashed(LibvirtConnection c, String uid) {
    LibvirtNative lib = LibvirtNative.INSTANCE;
    var dom = lib.virDomainLookupByUUIDString(c.pointer(), uid);
    if (dom == null) {
      return false;
    }
    try {
      var state = new com.sun.jna.ptr.IntByReference();
      var reason = new com.sun.jna.ptr.IntByReference();
      return lib.virDomainGetState(dom, state, reason, 0) == 0
          && state.getValue() == LibvirtNative.VIR_DOMAIN_SHUTOFF
          && reason.getValue() == LibvirtNative.VIR_DOMAIN_SHUTOFF_CRASHED;
    } finally {
      lib.virDomainFree(dom);
    }
  }

  private static GuestState state(DomainInfo.DomainState state) {
    return switch (state) {
      case VIR_DOMAIN_RUNNING, VIR_DOMAIN_BLOCKED -> GuestState.RUNNING;
      case VIR_DOMAIN_PAUSED -> GuestState.PAUSED;
      case VIR_DOMAIN_SHUTDOWN -> GuestState.SHUTTING_DOWN;
      case VIR_DOMAIN_SHUTOFF -> GuestState.SHUT_OFF;
      case VIR_DOMAIN_CRASHED -> GuestState.CRASHED;
      default -> GuestState.UNKNOWN;
    };
  }

  private static boolean isNetwork(LibvirtConnection c, String name) {
    try {
      c.networkLookupByName(name);
      return true;
    } catch (LibvirtException e) {
      return false;
    }
  }

  /**
   * The host NUMA node with the most free memory, for guests that ask for NUMA placement: memory
   * kept on one node is what makes placement worth asking for.
   */
  private static Optional<String> numaNodeset(LibvirtConnection c, NumaPlacement numa) throws LibvirtException {
    if (numa == NumaPlacement.None) {
      return Optional.empty();
    }
    int nodes = Math.max(1, c.nodeInfo().nodes);
    int best = 0;
    long bestFree = -1;
    for (int cell = 0; cell < nodes; cell++) {
      long free = c.getCellsFreeMemory(cell, 1);
      if (free > bestFree) {
        best = cell;
        bestFree = free;
      }
    }
    return Optional.of(String.valueOf(best));
  }

}
