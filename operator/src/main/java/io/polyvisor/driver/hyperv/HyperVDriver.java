package io.polyvisor.driver.hyperv;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.polyvisor.api.v1alpha1.NumaPlacement;
import io.polyvisor.api.v1alpha1.SecureBoot;
import io.polyvisor.driver.GuestEvent;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestMemoryStats;
import io.polyvisor.driver.GuestNotFoundException;
import io.polyvisor.driver.GuestSpec;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HostCalls;
import io.polyvisor.driver.HostCapacity;
import io.polyvisor.driver.HypervisorDriver;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.driver.MemoryChange;
import io.polyvisor.driver.MigrationJob;
import io.polyvisor.driver.MigrationOptions;
import io.polyvisor.driver.MigrationProgress;
import io.polyvisor.driver.StoragePoolSpec;
import io.polyvisor.driver.Volume;
import io.polyvisor.driver.VolumeSpec;
import io.polyvisor.driver.hyperv.winrm.PowerShellResult;
import io.polyvisor.driver.hyperv.winrm.WinRmClient;
import io.polyvisor.driver.hyperv.winrm.WinRmCredentials;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadFactory;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hyper-V hosts through WinRM and PowerShell. Guests are found by the uid in their notes
 * ({@link GuestNotes}) and then addressed by their VMId. Volumes are VHDX files in the storage
 * class's folder, which may be an SMB share only if the host speaks SMB 3.0 or later to it.
 *
 * <p>Guests move with {@code Move-VM} ({@link HyperVMigration}): memory only when their files are
 * on shares, else with their files into the same folder on the destination. Hyper-V has no
 * post-copy and no per-migration bandwidth cap (SMB bandwidth limits are host-wide). Not here:
 * lifecycle events (Hyper-V pushes none over WinRM, so drift is found by the operator's periodic
 * resync) and guest memory statistics (Hyper-V balances Dynamic Memory itself, so the operator's
 * balloon loop does not run).
 */
public final class HyperVDriver implements HypervisorDriver {

  /** Hyper-V refuses memory sizes that are not multiples of 2 MiB. */
  private static final Logger log = LoggerFactory.getLogger(HyperVDriver.class);
  static final long MEMORY_ALIGNMENT = 2L << 20;
  /** How often a shutdown that was asked for is looked at. */
  private static final Duration SHUTDOWN_POLL = Duration.ofSeconds(1);
  private static final Duration SCRIPT_DEADLINE = Duration.ofMinutes(2);
  /** Copying or moving disk files takes as long as the files are large. */
  private static final Duration FILE_DEADLINE = Duration.ofHours(6);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Function<Host, WinRmCredentials> credentials;
  private final Duration callTimeout;
  private final Map<Host, WinRmClient> clients = new ConcurrentHashMap<>();
  private final ExecutorService commands = Executors.newCachedThreadPool(daemon("hyperv-move"));
  private final ScheduledExecutorService timer = Executors.newScheduledThreadPool(4, daemon("hyperv-migration-poll"));

  /** @param credentials the WinRM logon for a host, read from its class's credentials Secret */
  public HyperVDriver(Function<Host, WinRmCredentials> credentials) {
    this(credentials, HostCalls.DEFAULT_TIMEOUT);
  }

  /**
   * @param credentials the WinRM logon for a host, read from its class's credentials Secret
   * @param callTimeout how much longer than WinRM is asked to hold it one request may go
   *     unanswered (scripts have deadlines of their own)
   */
  public HyperVDriver(Function<Host, WinRmCredentials> credentials, Duration callTimeout) {
    this.credentials = credentials;
    this.callTimeout = callTimeout;
  }

  @Override
  public HostCapacity capacity(Host host) {
    List<JsonNode> lines = json(run(host, HyperVScripts.CAPACITY.with(Map.of()), "read the host's capacity"));
    JsonNode vmHost = first(lines, host, "Get-VMHost");
    long freeKib = lines.size() > 1 ? lines.get(1).path("FreePhysicalMemory").asLong() : 0;
    return new HostCapacity(vmHost.path("MemoryCapacity").asLong(), freeKib * 1024, vmHost.path("LogicalProcessorCount").asInt());
  }

  @Override
  public Optional<GuestInfo> find(Host host, String uid) {
    return listed(host, uid).map(Listed::info);
  }

  @Override
  public List<GuestInfo> list(Host host) {
    return listed(host).stream().map(Listed::info).toList();
  }

  /** A guest of ours with the VMId Hyper-V gave it, and its state as Hyper-V names it. */
  private record Listed(String vmId, String hyperVState, GuestInfo info) {}

  private List<Listed> listed(Host host) {
    List<JsonNode> printed = objects(run(host, HyperVScripts.LIST.with(Map.of()), "list VMs"));
    // The script prints the VMs, then the memory settings of each (the only objects with a Buffer).
    Map<String, GuestSpec.GuestMemory> memory = new LinkedHashMap<>();
    printed.stream().filter(o -> o.has("Buffer")).forEach(m -> memory.put(m.path("Id").asText(), new GuestSpec.GuestMemory(
        m.path("Startup").asLong(), m.path("Maximum").asLong(), m.path("Minimum").asLong(), m.path("DynamicMemoryEnabled").asBoolean(),
        m.path("Buffer").asInt(), m.path("Priority").asInt())));
    List<Listed> ours = new ArrayList<>();
    for (JsonNode vm : printed.stream().filter(o -> !o.has("Buffer")).toList()) {
      GuestNotes.read(vm.path("Notes").asText(null)).ifPresent(notes -> {
        GuestState state = state(vm.path("State").asText());
        long assigned = vm.path("MemoryAssigned").asLong();
        long current = assigned > 0 ? assigned : vm.path("MemoryStartup").asLong();
        String vmId = vm.path("Id").asText();
        ours.add(new Listed(vmId, vm.path("State").asText(), new GuestInfo(notes.id(), state, current,
            vm.path("MemoryMaximum").asLong(), notes.revision(), false, Optional.empty(), Optional.ofNullable(memory.get(vmId)))));
      });
    }
    return ours;
  }

  /**
   * Hyper-V's VMState names (read by name: their numbers differ between Windows versions): Other,
   * Running, Off, Stopping, Saved, Paused, Starting, Reset, Saving, Pausing, Resuming, FastSaved,
   * FastSaving, and each of them with "Critical" appended (the same state, with the VM's storage
   * unreachable). A state on its way somewhere counts as where a guest process exists: starting,
   * resetting and resuming ones run, a pausing one is paused, and a saving or stopping one is going
   * down. Saved (and FastSaved) is off with the memory kept: Start-VM resumes it. Newer hosts add
   * ForceShutdown (going down) and ForceReboot (a guest process goes on). Names, not numbers: the
   * numbers moved between Windows versions (docs/hyperv-on-real-hosts.md, question 4).
   * Hibernated (the guest hibernated itself, and changing its hardware before it resumes could
   * break it), ComponentServicing and Other: no source says what may be done to them, so
   * UNKNOWN, which nothing destructive acts on.
   */
  static GuestState state(String name) {
    return switch (name.endsWith("Critical") ? name.substring(0, name.length() - "Critical".length()) : name) {
      case "Running", "Starting", "Reset", "Resuming", "ForceReboot" -> GuestState.RUNNING;
      case "Paused", "Pausing" -> GuestState.PAUSED;
      case "Stopping", "Saving", "FastSaving", "ForceShutdown" -> GuestState.SHUTTING_DOWN;
      case "Saved", "FastSaved" -> GuestState.SAVED;
      case "Off" -> GuestState.SHUT_OFF;
      default -> GuestState.UNKNOWN;
    };
  }

  private Optional<Listed> listed(Host host, String uid) {
    return listed(host).stream().filter(g -> g.info().id().uid().equals(uid)).findFirst();
  }

  private Listed guest(Host host, String uid) {
    return listed(host, uid).orElseThrow(() -> new GuestNotFoundException(host, uid));
  }

  @Override
  public GuestInfo define(Host host, GuestSpec spec) {
    Optional<Listed> existing = listed(host, spec.id().uid());
    if (existing.isPresent() && (existing.get().info().state().isActive() || existing.get().info().state() == GuestState.SAVED)) {
      // Hyper-V keeps one configuration, and most of it cannot change while the guest runs or
      // while its saved state waits to be resumed: the new one is written when the guest is next
      // off, and RestartRequired says so meanwhile.
      return existing.get().info();
    }
    if (spec.numa() == NumaPlacement.Strict) {
      checkNumaSpanningOff(host);
    }
    Map<String, Object> p = configuration(spec);
    boolean secureBoot = spec.secureBoot() != SecureBoot.Off;
    boolean bootOrder = p.containsKey("bootPaths");
    if (existing.isPresent()) {
      p.put("id", existing.get().vmId());
      run(host, HyperVScripts.configure(false, spec.memory().dynamic(), secureBoot, bootOrder).with(p), "reconfigure VM " + spec.id());
    } else {
      p.put("name", spec.id().guestName());
      // Ours from the start (no revision yet), so that a creation cut short is found and finished.
      p.put("identity", new GuestNotes(spec.id(), "").text());
      run(host, HyperVScripts.configure(true, spec.memory().dynamic(), secureBoot, bootOrder).with(p), "create VM " + spec.id());
    }
    return find(host, spec.id().uid())
        .orElseThrow(() -> new HypervisorException("LOST", "VM " + spec.id() + " was defined on " + host + " but is not listed"));
  }

  /**
   * memory.numa Strict means memory local to the guest's processors only, which Hyper-V gives when
   * the host does not let VMs span NUMA nodes; a host-wide setting the operator leaves to its
   * administrator. Preferred and None are what Hyper-V does by default (a Static VM sees the
   * host's NUMA topology and is placed on local memory first; Dynamic Memory turns virtual NUMA off).
   */
  private void checkNumaSpanningOff(Host host) {
    JsonNode vmHost = first(objects(run(host, HyperVScripts.NUMA_SPANNING.with(Map.of()), "read NUMA spanning")), host, "Get-VMHost");
    if (vmHost.path("NumaSpanningEnabled").asBoolean(true)) {
      throw new HypervisorException("NUMA_SPANNING", host.nodeName() + " lets VMs span NUMA nodes (NumaSpanningEnabled),"
          + " so it cannot keep memory.numa Strict; run Set-VMHost -NumaSpanningEnabled $false there (and restart its"
          + " Virtual Machine Management service), or set memory.numa to Preferred");
    }
  }

  private static Map<String, Object> configuration(GuestSpec spec) {
    GuestSpec.GuestMemory memory = spec.memory();
    Map<String, Object> p = new LinkedHashMap<>();
    p.put("cores", spec.cores());
    p.put("notes", new GuestNotes(spec.id(), spec.revision()).text());
    p.put("dynamic", memory.dynamic());
    p.put("startupBytes", aligned(memory.currentBytes()));
    p.put("minimumBytes", aligned(memory.minimumBytes()));
    p.put("maximumBytes", aligned(memory.maximumBytes()));
    p.put("buffer", memory.bufferPercent());
    p.put("priority", memory.priority());
    p.put("disks", spec.disks().stream().map(GuestSpec.GuestDisk::path).toList());
    p.put("nics", spec.nics().stream().map(n -> Map.of("name", n.name(), "switch", n.network())).toList());
    p.put("secureBootTemplate", spec.secureBoot().name());
    List<String> boot = bootPaths(spec.disks());
    if (!boot.isEmpty()) {
      p.put("bootPaths", boot);
    }
    return p;
  }

  /**
   * The disks the firmware boots, in order: those with a bootOrder, as libvirt boots them; when
   * none has one, every disk in the order the VM lists them (libvirt boots the first).
   */
  static List<String> bootPaths(List<GuestSpec.GuestDisk> disks) {
    List<GuestSpec.GuestDisk> ordered = disks.stream().filter(d -> d.bootOrder().isPresent())
        .sorted(java.util.Comparator.comparing(d -> d.bootOrder().get())).toList();
    return (ordered.isEmpty() ? disks : ordered).stream().map(GuestSpec.GuestDisk::path).toList();
  }

  static long aligned(long bytes) {
    return (bytes + MEMORY_ALIGNMENT - 1) / MEMORY_ALIGNMENT * MEMORY_ALIGNMENT;
  }

  /** Start-VM boots a guest that is off and resumes a saved one; one that runs or is paused is left as it is. */
  @Override
  public void start(Host host, String uid) {
    Listed guest = guest(host, uid);
    if (!guest.info().state().isActive()) {
      run(host, HyperVScripts.START.with(Map.of("id", guest.vmId())), "start guest " + uid);
    }
  }

  /** Suspend-VM; a guest that is not running (paused already, saved, off) is left as it is. */
  @Override
  public void pause(Host host, String uid) {
    Listed guest = guest(host, uid);
    if (guest.info().state() == GuestState.RUNNING) {
      run(host, HyperVScripts.PAUSE.with(Map.of("id", guest.vmId())), "pause guest " + uid);
    }
  }

  /**
   * Resume-VM; only a paused guest is resumed (a saved one is resumed by Start-VM). One that Hyper-V
   * paused because its storage is unreachable (PausedCritical) is refused: it would stop again.
   */
  @Override
  public void resume(Host host, String uid) {
    Listed guest = guest(host, uid);
    if (guest.hyperVState().endsWith("Critical")) {
      throw new HypervisorException("STORAGE_LOST", "guest " + uid + " on " + host.nodeName() + " is " + guest.hyperVState()
          + ": Hyper-V paused it because its storage cannot be reached; it is resumed once that is fixed");
    }
    if (guest.info().state() == GuestState.PAUSED) {
      run(host, HyperVScripts.RESUME.with(Map.of("id", guest.vmId())), "resume guest " + uid);
    }
  }

  /**
   * Asks the guest to shut down (the call returns once the host has the request), then follows
   * its state until it is off or {@code timeout} has passed; with a zero timeout it only asks. A
   * guest that cannot be asked (no Shutdown integration service running, or the host refused) is
   * reported as not stopped, and its power is then the caller's to cut.
   */
  @Override
  public boolean shutdown(Host host, String uid, Duration timeout) {
    Instant until = Instant.now().plus(timeout);
    Listed guest = guest(host, uid);
    if (!guest.info().state().isActive()) {
      return true; // off or saved: no guest OS runs to ask
    }
    List<JsonNode> answers = objects(run(host, HyperVScripts.INITIATE_SHUTDOWN.with(Map.of("id", guest.vmId(),
        "reason", "Polyvisor: the VirtualMachine is being stopped")), "ask guest " + uid + " to shut down"));
    long code = answers.isEmpty() ? -1 : answers.get(0).path("ReturnValue").asLong(-1);
    if (!CimReturnCodes.accepted(code)) {
      log.info("guest {} on {} cannot be asked to shut down: {}", uid, host, answers.isEmpty()
          ? "its Shutdown integration service is not running" : "InitiateShutdown returned " + code + " (" + CimReturnCodes.describe(code) + ")");
      return false;
    }
    if (timeout.isZero()) {
      return false; // asked only: the caller looks again
    }
    while (true) {
      Optional<Listed> now = listed(host, uid);
      if (now.isEmpty() || !now.get().info().state().isActive()) {
        return true;
      }
      Duration left = Duration.between(Instant.now(), until);
      if (left.isNegative() || left.isZero()) {
        return false;
      }
      HostCalls.pauseForShutdown(left.compareTo(SHUTDOWN_POLL) < 0 ? left : SHUTDOWN_POLL);
    }
  }

  /** A saved guest is off already: its saved state goes with it only when it is undefined. */
  @Override
  public void forceStop(Host host, String uid) {
    Listed guest = guest(host, uid);
    if (guest.info().state().isActive()) {
      run(host, HyperVScripts.TURN_OFF.with(Map.of("id", guest.vmId())), "turn off guest " + uid);
    }
  }

  @Override
  public void undefine(Host host, String uid) {
    Optional<Listed> guest = listed(host, uid);
    if (guest.isPresent()) {
      // A saved VM's saved state (its memory) is discarded first, so that Remove-VM meets a VM that is off.
      String script = (guest.get().info().state() == GuestState.SAVED ? HyperVScripts.REMOVE_SAVED : HyperVScripts.REMOVE)
          .with(Map.of("id", guest.get().vmId()));
      run(host, script, "remove VM of guest " + uid);
    }
  }

  @Override
  public MemoryChange memoryChange(GuestInfo guest, GuestSpec.GuestMemory wanted) {
    return guest.memorySettings().map(current -> DynamicMemoryRules.change(current, wanted)).orElse(MemoryChange.NONE);
  }

  @Override
  public void changeMemory(Host host, String uid, GuestSpec.GuestMemory settings) {
    Listed guest = guest(host, uid);
    run(host, HyperVScripts.CHANGE_MEMORY.with(Map.of("id", guest.vmId(), "minimumBytes", settings.minimumBytes(),
        "maximumBytes", settings.maximumBytes(), "buffer", settings.bufferPercent(), "priority", settings.priority())),
        "change the memory settings of running guest " + uid);
  }

  @Override
  public void setMemoryTarget(Host host, String uid, long bytes) {
    throw new HypervisorException("NOT_SUPPORTED", "Hyper-V balances Dynamic Memory itself; no target can be set");
  }

  @Override
  public Optional<GuestMemoryStats> memoryStats(Host host, String uid) {
    return Optional.empty();
  }

  @Override
  public Volume createVolume(Host host, VolumeSpec spec) {
    StoragePoolSpec pool = spec.pool();
    SmbShare.of(pool.path()).ifPresent(share -> checkDialect(host, share, pool.path()));
    String path = volumePath(pool, spec.name());
    boolean exists = json(run(host, HyperVScripts.EXISTS.with(Map.of("path", path)), "look for " + path)).stream()
        .anyMatch(JsonNode::asBoolean);
    PowerShellResult made;
    if (exists) {
      made = run(host, HyperVScripts.VHD_INFO.with(Map.of("path", path)), "read " + path);
    } else if (spec.source().isPresent()) {
      // Copied under a temporary name first: a copy cut short must not pass for the volume.
      made = run(host, HyperVScripts.COPY_VHD.with(Map.of("source", hostPath(spec.source().get()), "partial",
          path + ".partial", "name", spec.name() + ".vhdx", "path", path)),
          "copy " + spec.source().get() + " to " + path, FILE_DEADLINE);
    } else {
      made = run(host, HyperVScripts.NEW_VHD.with(Map.of("path", path, "sizeBytes", aligned(spec.capacityBytes()))),
          "create " + path);
    }
    JsonNode vhd = first(json(made), host, "Get-VHD");
    return new Volume(pool.name(), spec.name(), vhd.path("Path").asText(path), "vhdx", vhd.path("Size").asLong());
  }

  /**
   * The seed's rule: Hyper-V keeps VM files on a share only over SMB 3.0 or later (older dialects
   * lack the durable handles and remote VSS it relies on).
   */
  private void checkDialect(Host host, SmbShare share, String folder) {
    Map<String, Object> p = Map.of("folder", folder, "server", share.server(), "share", share.share());
    String dialect = objects(run(host, HyperVScripts.SMB_DIALECT.with(p), "check the SMB dialect of " + folder)).stream()
        .map(n -> n.path("Dialect").asText("")).filter(d -> !d.isEmpty()).findFirst()
        .orElseThrow(() -> new HypervisorException("SMB_UNREACHABLE", host.nodeName() + " has no SMB connection to "
            + share + "; check that the share exists and that the host can reach it"));
    if (!SmbShare.supportsHyperV(dialect)) {
      throw new HypervisorException("SMB_DIALECT", "share " + share + " speaks SMB " + dialect + " to " + host.nodeName()
          + "; Hyper-V keeps VM files only on SMB 3.0 or later: upgrade the file server or point the StorageClass's"
          + " parameters.path at another share");
    }
  }

  static String volumePath(StoragePoolSpec pool, String volumeName) {
    String folder = pool.path().endsWith("\\") ? pool.path() : pool.path() + "\\";
    return folder + volumeName + ".vhdx";
  }

  /** A {@code file://} source as the host names it: a drive path or a UNC path. */
  static String hostPath(URI source) {
    if (!"file".equals(source.getScheme())) {
      throw new HypervisorException("SOURCE_UNSUPPORTED", "Hyper-V hosts read disk sources from files only: " + source
          + " is not file://; copy the image to a share and use file://<server>/<share>/<file>");
    }
    String path = source.getPath().replace('/', '\\');
    if (source.getHost() != null && !source.getHost().isEmpty()) {
      return "\\\\" + source.getHost() + path;
    }
    return path.startsWith("\\") && path.length() > 2 && path.charAt(2) == ':' ? path.substring(1) : path;
  }

  @Override
  public void deleteVolume(Host host, StoragePoolSpec pool, String volumeName) {
    String path = volumePath(pool, volumeName);
    run(host, HyperVScripts.DELETE_FILE.with(Map.of("path", path)), "delete " + path);
  }

  @Override
  public MigrationJob migrate(Host source, Host target, String uid, MigrationOptions options) {
    Listed guest = guest(source, uid);
    String script = moveScript(source, target, guest.vmId(), options.sharedStorage());
    return HyperVMigration.start(this, source, target, uid, guest.vmId(), guest.info().currentMemoryBytes(), script, commands);
  }

  @Override
  public Optional<MigrationJob> reattach(Host source, Host target, String uid) {
    Optional<Listed> guest = listed(source, uid);
    if (guest.isEmpty()) {
      return Optional.empty();
    }
    return HyperVMigration.reattach(this, source, target, uid, guest.get().vmId(), guest.get().info().currentMemoryBytes())
        .map(MigrationJob.class::cast);
  }

  @Override
  public void moveStopped(Host source, Host target, String uid, boolean sharedStorage, Consumer<MigrationProgress> progress) {
    run(source, moveScript(source, target, guest(source, uid).vmId(), sharedStorage), "move guest " + uid + " to " + target.nodeName(),
        FILE_DEADLINE);
  }

  /**
   * The Move-VM script for the guest: the destination by the name it answers to, and unless the
   * guest's files are on shares, the folder they move into, the same as on the source (as
   * libvirt volumes go into the pool of the same name).
   */
  private String moveScript(Host source, Host target, String vmId, boolean sharedStorage) {
    JsonNode destination = first(objects(run(target, HyperVScripts.MIGRATION_HOST.with(Map.of()), "read migration settings")),
        target, "Get-VMHost");
    if (!destination.path("VirtualMachineMigrationEnabled").asBoolean()) {
      throw new HypervisorException("MIGRATION_DISABLED", target.nodeName() + " does not accept live migrations; run"
          + " Enable-VMMigration there (with Kerberos authentication and constrained delegation for remote moves)");
    }
    Map<String, Object> p = new LinkedHashMap<>();
    p.put("id", vmId);
    p.put("destination", destination.path("FullyQualifiedDomainName").asText());
    if (!sharedStorage) {
      objects(run(source, HyperVScripts.DISK_PATHS.with(Map.of("id", vmId)), "read the disks of VM " + vmId)).stream()
          .map(d -> d.path("Path").asText()).filter(path -> path.contains("\\")).findFirst()
          .ifPresent(path -> p.put("storagePath", path.substring(0, path.lastIndexOf('\\'))));
    }
    return (p.containsKey("storagePath") ? HyperVScripts.MOVE_WITH_STORAGE : HyperVScripts.MOVE).with(p);
  }

  @Override
  public void addEventListener(Consumer<GuestEvent> listener) {
    // Hyper-V pushes no events over WinRM; the operator's periodic resync finds drift instead.
  }

  @Override
  public void close() {
    commands.shutdownNow();
    timer.shutdownNow();
    clients.clear();
  }

  ScheduledExecutorService timer() {
    return timer;
  }

  private static ThreadFactory daemon(String name) {
    return r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      return t;
    };
  }


  PowerShellResult run(Host host, String script, String what) {
    return run(host, script, what, SCRIPT_DEADLINE);
  }

  PowerShellResult run(Host host, String script, String what, Duration deadline) {
    WinRmClient client = clients.computeIfAbsent(host, h -> new WinRmClient(URI.create(h.endpoint()), credentials.apply(h), callTimeout));
    PowerShellResult result;
    try {
      result = client.run(script, deadline);
    } catch (HypervisorException e) {
      if ("AUTH_FAILED".equals(e.code())) {
        clients.remove(host); // read the Secret again next time: it may have been fixed
      }
      throw e;
    }
    if (!result.succeeded()) {
      String errors = result.errors();
      throw new HypervisorException(errors.contains("unable to find a virtual machine") ? "NO_GUEST" : "POWERSHELL",
          "could not " + what + " on " + host + ": " + (errors.isEmpty() ? "exit code " + result.exitCode() : errors));
    }
    return result;
  }

  private static List<JsonNode> json(PowerShellResult result) {
    List<JsonNode> documents = new ArrayList<>();
    for (String line : result.stdout().split("\\R")) {
      if (!line.isBlank()) {
        try {
          documents.add(JSON.readTree(line));
        } catch (IOException e) {
          throw new HypervisorException("NOT_JSON", "the host printed what is not JSON: " + line, e);
        }
      }
    }
    return documents;
  }

  /**
   * The objects a script printed. ConvertTo-Json prints one object bare and several as an array
   * (and nothing for none), so both shapes are read.
   */
  private static JsonNode first(List<JsonNode> printed, Host host, String what) {
    if (printed.isEmpty()) {
      throw new HypervisorException("NO_OUTPUT", what + " on " + host + " printed nothing");
    }
    return printed.get(0);
  }

  static List<JsonNode> objects(PowerShellResult result) {
    List<JsonNode> objects = new ArrayList<>();
    for (JsonNode document : json(result)) {
      if (document.isArray()) {
        document.forEach(objects::add);
      } else {
        objects.add(document);
      }
    }
    return objects;
  }
}
