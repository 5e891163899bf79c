package io.polyvisor.testing.hyperv;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A Hyper-V host's state and the cmdlets the driver uses, with the behaviour HYPERV-NOTES records
 * from Microsoft's documentation: duplicate VM names allowed, 2 MB memory alignment, Minimum ≤
 * Startup ≤ Maximum, Dynamic Memory not switchable while running (Minimum only down, Maximum only
 * up), Remove-VM leaving the disks, not-found and out-of-memory messages as Hyper-V words them,
 * and SMB shares that report their dialect. Files live in a map of paths; folders and shares must
 * be declared. Thread-safe.
 *
 * <p>Power: Start-VM boots a VM that is off and resumes a saved one (Save-VM, as a host that shuts
 * down does to its guests); Suspend-VM pauses a running VM and Resume-VM resumes a paused one;
 * Remove-VMSavedState turns a saved VM off. A saved VM holds no host memory, and its hardware
 * (processors, memory, disks, adapters) cannot change until it is off. What a state does not
 * allow fails as Hyper-V words it ("The operation cannot be performed while the object is in its
 * current state"). Not modelled: the transitional states (Saving, Pausing, Resuming), and whether
 * a real Start-VM resumes a paused VM (refused here: Resume-VM is the documented way) or Stop-VM
 * discards a saved state (refused here: Remove-VMSavedState is).
 */
public final class SimulatedHyperVHost implements PowerShellSubset.Cmdlets {

  private static final long ALIGNMENT = 2L << 20;

  private final String computerName;
  private final long memoryCapacity;
  private final int logicalProcessors;
  private final List<SimulatedVm> vms = new CopyOnWriteArrayList<>();
  private final HyperVNetwork network;
  private final Map<String, Long> localFiles = new ConcurrentHashMap<>();
  private final List<MigrationJob> migrationJobs = new CopyOnWriteArrayList<>();
  private volatile boolean migrationEnabled;
  /** Migration authentication Kerberos: see {@link #kerberosMigration()}. */
  private volatile boolean kerberosMigration;
  private volatile boolean reachable = true;
  private final Set<String> folders = ConcurrentHashMap.newKeySet();
  private final Map<String, String> shareDialects = new ConcurrentHashMap<>();
  private final Set<String> switches = ConcurrentHashMap.newKeySet();
  private final Map<String, String> smbConnections = new ConcurrentHashMap<>();
  private volatile long shutdownMillis = 300;
  private volatile long migrationJobStartupMillis = 200;
  private volatile boolean refuseCancels;
  private volatile boolean numaSpanning = true;
  /** Msvm_MigrationJob.TimeBeforeRemoval: a finished job is listed this long, then gone (five minutes on every host). */
  private volatile long jobRetentionMillis = 5 * 60_000;
  private final List<String> shutdowns = new CopyOnWriteArrayList<>();

  /** A host on a network of its own. */
  public SimulatedHyperVHost(String computerName, long memoryCapacity, int logicalProcessors) {
    this(new HyperVNetwork(), computerName, memoryCapacity, logicalProcessors);
  }

  public SimulatedHyperVHost(HyperVNetwork network, String computerName, long memoryCapacity, int logicalProcessors) {
    this.network = network;
    this.computerName = computerName;
    this.memoryCapacity = memoryCapacity;
    this.logicalProcessors = logicalProcessors;
    network.join(this);
  }

  /** {@code Enable-VMMigration}: hosts neither send nor accept live migrations until then. */
  public SimulatedHyperVHost enableMigration() {
    migrationEnabled = true;
    return this;
  }

  /**
   * {@code Set-VMHost -VirtualMachineMigrationAuthenticationType Kerberos}: the source host
   * authenticates to the destination with the credentials of the session that runs Move-VM, so a
   * session holding none it can pass on (Basic, a Kerberos logon without a delegated TGT) fails
   * with 0x8009030E. Without this the host is as lenient as CredSSP from the host's own console,
   * where any session may move VMs: the default, which the tests that migrate over Basic rely on.
   */
  public SimulatedHyperVHost kerberosMigration() {
    kerberosMigration = true;
    return this;
  }

  /** Cuts the host off the migration network (as a host that crashed or lost its link). */
  public void disconnect() {
    reachable = false;
  }

  /** A local folder, e.g. {@code C:\VMs}. */
  public SimulatedHyperVHost folder(String path) {
    folders.add(key(path));
    return this;
  }

  /** An SMB share, e.g. {@code \\fs1\vms}, that this host reaches with the given dialect ("2.1", "3.02"). */
  public SimulatedHyperVHost share(String unc, String dialect) {
    shareDialects.put(key(unc), dialect);
    folders.add(key(unc));
    return this;
  }

  public SimulatedHyperVHost virtualSwitch(String name) {
    switches.add(name.toLowerCase(Locale.ROOT));
    return this;
  }

  /** A file already on the host (an image to copy from). */
  public SimulatedHyperVHost file(String path, long size) {
    files(path).put(key(path), size);
    return this;
  }

  public String computerName() {
    return computerName;
  }

  // What tests read back.

  public List<String> vmNames() {
    return vms.stream().map(vm -> vm.name).toList();
  }

  public Optional<String> stateOf(String vmName) {
    return vms.stream().filter(vm -> vm.name.equals(vmName)).map(vm -> vm.state.name()).findFirst();
  }

  /** The VM's storage becomes unreachable: Hyper-V pauses a running VM (PausedCritical). */
  public void loseStorageOf(String vmName) {
    vms.stream().filter(vm -> vm.name.equals(vmName) && vm.state == SimulatedVm.State.Running)
        .forEach(vm -> vm.state = SimulatedVm.State.PausedCritical);
  }

  public Optional<Map<String, Object>> propertiesOf(String vmName) {
    return vms.stream().filter(vm -> vm.name.equals(vmName)).map(SimulatedVm::properties).findFirst();
  }

  public List<String> disksOf(String vmName) {
    return vms.stream().filter(vm -> vm.name.equals(vmName)).findFirst().map(vm -> List.copyOf(vm.disks)).orElse(List.of());
  }

  public Set<String> filePaths() {
    Set<String> paths = new HashSet<>(localFiles.keySet());
    shareFiles().keySet().stream().filter(p -> shareDialects.keySet().stream().anyMatch(p::startsWith)).forEach(paths::add);
    return Set.copyOf(paths);
  }

  /** Makes the VM's guest ignore shutdown requests (no integration services), as a hung guest does. */
  public void ignoreShutdown(String vmName) {
    vms.stream().filter(vm -> vm.name.equals(vmName)).forEach(vm -> vm.honoursShutdown = false);
  }

  /** How long a migration job stays New and then Starting before memory moves (200 ms unless set). */
  public SimulatedHyperVHost migrationJobStartup(java.time.Duration startup) {
    migrationJobStartupMillis = startup.toMillis();
    return this;
  }

  /** The JobState of each migration job of the VM that this host lists. */
  public List<Integer> migrationJobStates(String vmName) {
    migrationJobs.removeIf(job -> job.endedMoreThan(jobRetentionMillis));
    return migrationJobs.stream().filter(j -> j.vm.name.equals(vmName)).map(j -> j.jobState).toList();
  }

  /** From now on a migration job refuses to be cancelled, as one past its switch-over does. */
  public void refuseMigrationCancels() {
    migrationJobs.forEach(MigrationJob::refuseCancel);
    refuseCancels = true;
  }

  /** Set-VMHost -NumaSpanningEnabled, the administrator's host-wide setting (on by default, as on Hyper-V). */
  public SimulatedHyperVHost numaSpanning(boolean enabled) {
    numaSpanning = enabled;
    return this;
  }

  /** How long a finished migration job stays listed (TimeBeforeRemoval; five minutes unless set). */
  public SimulatedHyperVHost migrationJobRetention(java.time.Duration retention) {
    jobRetentionMillis = retention.toMillis();
    return this;
  }

  /** The VM's disks hold a Windows loader (a Linux distribution's shim unless told so). */
  public void installWindows(String vmName) {
    vms.stream().filter(vm -> vm.name.equals(vmName)).forEach(vm -> vm.windowsLoader = true);
  }

  /** The disk the VM's firmware booted a guest OS from, empty when none came up. */
  public Optional<String> bootedFrom(String vmName) {
    return vms.stream().filter(vm -> vm.name.equals(vmName) && vm.guestUp()).map(vm -> vm.bootedFrom).findFirst();
  }

  /** The firmware's boot entries of the VM ("disk:<path>", "nic:<name>"), first first. */
  public List<String> bootOrderOf(String vmName) {
    return vms.stream().filter(vm -> vm.name.equals(vmName)).findFirst().map(vm -> {
      synchronized (vm) {
        return List.copyOf(vm.bootOrder);
      }
    }).orElse(List.of());
  }

  /** Secure Boot of the VM: "Off", or the template it trusts. */
  public Optional<String> secureBootOf(String vmName) {
    return vms.stream().filter(vm -> vm.name.equals(vmName)).findFirst()
        .map(vm -> vm.secureBoot ? vm.secureBootTemplate : "Off");
  }

  /** What Get-VMMemory shows of the VM. */
  public Optional<Map<String, Object>> memoryOf(String vmName) {
    return vms.stream().filter(vm -> vm.name.equals(vmName)).findFirst().map(vm -> vm.memory().properties());
  }

  /** The VMs whose guest shut itself down when asked (not those whose power was cut), in order. */
  public List<String> guestShutdowns() {
    return List.copyOf(shutdowns);
  }

  /** Cuts the VM's power behind the operator's back. */
  public void turnOffBehindTheOperatorsBack(String vmName) {
    vms.stream().filter(vm -> vm.name.equals(vmName)).forEach(vm -> vm.state = SimulatedVm.State.Off);
  }

  /** A VM someone made by hand, which the operator must leave alone. */
  public void createForeignVm(String name) {
    SimulatedVm vm = new SimulatedVm();
    vm.name = name;
    vm.generation = 2;
    vm.memoryStartup = 512L << 20;
    vm.memoryMinimum = vm.memoryStartup;
    vm.memoryMaximum = vm.memoryStartup;
    vms.add(vm);
  }

  @Override
  public List<Object> invoke(String name, Map<String, Object> parameters, List<Object> input) {
    Parameters p = new Parameters(name, parameters);
    return switch (name.toLowerCase(Locale.ROOT)) {
      case "get-vmhost" -> getVmHost(p);
      case "get-ciminstance" -> getCimInstance(p);
      case "get-vm" -> getVm(p);
      case "new-vm" -> newVm(p);
      case "set-vm" -> setVm(p);
      case "set-vmmemory" -> setVmMemory(p);
      case "get-vmmemory" -> getVmMemory(p, input);
      case "set-vmfirmware" -> setVmFirmware(p);
      case "start-vm" -> startVm(p);
      case "stop-vm" -> stopVm(p);
      // Save-VM writes a running (or paused) VM's memory to disk and stops it: Start-VM resumes it.
      case "save-vm" -> powerChange(p, "Save-VM", EnumSet.of(SimulatedVm.State.Running, SimulatedVm.State.Paused),
          SimulatedVm.State.Saved);
      case "suspend-vm" -> powerChange(p, "Suspend-VM", EnumSet.of(SimulatedVm.State.Running), SimulatedVm.State.Paused);
      case "resume-vm" -> powerChange(p, "Resume-VM", EnumSet.of(SimulatedVm.State.Paused), SimulatedVm.State.Running);
      case "remove-vmsavedstate" -> removeSavedState(p);
      case "remove-vm" -> removeVm(p);
      case "get-vmharddiskdrive" -> getDisks(p);
      case "remove-vmharddiskdrive" -> removeDisks(p, input);
      case "add-vmharddiskdrive" -> addDisk(p);
      case "get-vmnetworkadapter" -> getAdapters(p);
      case "remove-vmnetworkadapter" -> removeAdapters(p, input);
      case "add-vmnetworkadapter" -> addAdapter(p);
      case "test-path" -> testPath(p);
      case "get-smbconnection" -> getSmbConnection(p);
      case "new-vhd" -> newVhd(p);
      case "get-vhd" -> getVhd(p);
      case "copy-item" -> copyItem(p);
      case "rename-item" -> renameItem(p);
      case "remove-item" -> removeItem(p);
      case "move-vm" -> moveVm(p);
      case "invoke-cimmethod" -> invokeCimMethod(p, input);
      default -> throw new PsError("The term '" + name + "' is not recognized as the name of a cmdlet, function, script"
          + " file, or operable program.");
    };
  }

  private List<Object> getVmHost(Parameters p) {
    p.allow();
    return one(PsObject.Record.of("ComputerName", computerName, "FullyQualifiedDomainName", computerName.toLowerCase(Locale.ROOT)
        + ".hv.test", "MemoryCapacity", memoryCapacity, "LogicalProcessorCount", logicalProcessors,
        "VirtualMachineMigrationEnabled", migrationEnabled, "NumaSpanningEnabled", numaSpanning));
  }

  private List<Object> getCimInstance(Parameters p) {
    p.allow("ClassName", "Namespace");
    String namespace = p.has("Namespace") ? p.string("Namespace") : "root\\cimv2";
    String className = p.string("ClassName");
    if ("root\\cimv2".equalsIgnoreCase(namespace) && "Win32_OperatingSystem".equalsIgnoreCase(className)) {
      return one(PsObject.Record.of("FreePhysicalMemory", memoryFree() / 1024));
    }
    if ("root\\virtualization\\v2".equalsIgnoreCase(namespace) && "Msvm_MigrationJob".equalsIgnoreCase(className)) {
      migrationJobs.removeIf(job -> job.endedMoreThan(jobRetentionMillis));
      return new ArrayList<>(migrationJobs);
    }
    if ("root\\virtualization\\v2".equalsIgnoreCase(namespace) && "Msvm_ShutdownComponent".equalsIgnoreCase(className)) {
      // Listed while the guest runs (its integration services with it).
      // Listed while a guest OS runs: the integration services are the guest's, a VM whose firmware booted nothing has none.
      return new ArrayList<>(vms.stream().filter(SimulatedVm::guestUp).map(ShutdownComponent::new).toList());
    }
    throw new PsError("Get-CimInstance : Invalid class \"" + className + "\" in namespace " + namespace + " (the simulator"
        + " knows Win32_OperatingSystem, Msvm_MigrationJob and Msvm_ShutdownComponent)");
  }

  /**
   * Msvm_MigrationJob.RequestStateChange: 4 (Terminate) cancels a migration that has not ended, in
   * whichever of New, Starting and Running it is (0); a job that has ended refuses it with 32775,
   * "Invalid state for this operation" (the code documented for the migration job's refusals; which
   * of them a real host gives here is not documented). Msvm_ShutdownComponent.InitiateShutdown
   * asks the guest to shut down and returns at once (0), the guest going down on its own.
   */
  private List<Object> invokeCimMethod(Parameters p, List<Object> input) {
    p.allow("MethodName", "Arguments");
    String method = p.string("MethodName");
    PsObject arguments = p.raw("Arguments") instanceof PsObject args ? args : PsObject.Record.of();
    List<Object> results = new ArrayList<>();
    for (Object o : input) {
      long code;
      if (o instanceof MigrationJob job && "RequestStateChange".equalsIgnoreCase(method)) {
        code = Long.valueOf(4).equals(arguments.get("RequestedState")) && job.cancel() ? 0 : INVALID_STATE;
      } else if (o instanceof ShutdownComponent component && "InitiateShutdown".equalsIgnoreCase(method)) {
        if (!(arguments.get("Force") instanceof Boolean) || !(arguments.get("Reason") instanceof String)) {
          throw new PsError("Invoke-CimMethod : InitiateShutdown takes Force (a boolean) and Reason (a string)");
        }
        code = initiateShutdown(component.vm);
      } else {
        throw new PsError("Invoke-CimMethod : No method \"" + method + "\" for the input " + o);
      }
      results.add(PsObject.Record.of("ReturnValue", code));
    }
    return results;
  }

  private static final long INVALID_STATE = 32775;

  /** The Shutdown integration service of a running VM, as CIM lists it (its SystemName is the VM's id). */
  private record ShutdownComponent(SimulatedVm vm) implements PsObject {
    @Override
    public Map<String, Object> properties() {
      Map<String, Object> p = new LinkedHashMap<>();
      p.put("SystemName", vm.id.toString().toUpperCase(Locale.ROOT));
      p.put("DeviceID", "Microsoft:" + vm.id.toString().toUpperCase(Locale.ROOT) + "\\9F8233AC-BE49-4C79-8EE3-E7E1985B2077");
      p.put("EnabledState", 2);
      return p;
    }
  }

  /**
   * The guest is asked and the call returns: the guest goes down by itself (after {@link
   * #shutdownMillis}), on the management service's time, not the caller's. A guest that ignores
   * shutdown requests is asked all the same and stays up.
   */
  private synchronized long initiateShutdown(SimulatedVm vm) {
    if (!vm.guestUp()) {
      return INVALID_STATE;
    }
    if (vm.honoursShutdown) {
      vm.state = SimulatedVm.State.Stopping;
      network.vmms.submit(() -> {
        try {
          Thread.sleep(shutdownMillis);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
        synchronized (this) {
          if (vm.state == SimulatedVm.State.Stopping) {
            vm.state = SimulatedVm.State.Off;
            shutdowns.add(vm.name);
          }
        }
      });
    }
    return 0;
  }

  /**
   * Move-VM, live for a running VM and of its configuration (and files) for a stopped one: checks
   * what Hyper-V checks before it starts (migration enabled on both ends, the destination known
   * and with room, storage shared or moved along), then hands the transfer to
   * the host's management service and waits for it. The transfer outlives the command: a client
   * that goes away does not stop it, as on a real host.
   */
  private List<Object> moveVm(Parameters p) {
    p.allow("VM", "DestinationHost", "IncludeStorage", "DestinationStoragePath");
    SimulatedVm vm = p.vm();
    String destinationName = p.string("DestinationHost");
    String failed = "Move-VM : Virtual machine migration operation for '" + vm.name + "' failed at migration source '"
        + computerName + "'. ";
    if (!migrationEnabled) {
      throw new PsError(failed + "Migration is not enabled on this host (Enable-VMMigration).");
    }
    SimulatedHyperVHost destination = network.host(destinationName.replaceFirst("(?i)\\.hv\\.test$", ""))
        .filter(h -> h.reachable)
        .orElseThrow(() -> new PsError(failed + "Failed to establish a connection with host '" + destinationName
            + "': No such host is known. (0x80072AF9)"));
    if (destination == this) {
      throw new PsError(failed + "The destination is the source host.");
    }
    if (kerberosMigration && !WinRmSession.holdsDelegableCredentials()) {
      // docs/hyperv-on-real-hosts.md section 2 (Microsoft's live-migration setup guide): the
      // double hop of a session that cannot pass its credentials on.
      throw new PsError(failed + "Failed to establish a connection with host '" + destinationName
          + "': No credentials are available in the security package (0x8009030E).");
    }
    if (!destination.migrationEnabled) {
      throw new PsError(failed + "The Virtual Machine Management Service on the destination host '" + destinationName
          + "' is not configured for migration. (0x80070005)");
    }
    boolean live = vm.state == SimulatedVm.State.Running;
    if (live && destination.memoryFree() < vm.memoryStartup) {
      throw new PsError(failed + "Not enough memory on '" + destinationName + "' to run the virtual machine. (0x8007000E)");
    }
    if (migrationJobs.stream().anyMatch(j -> j.vmId.equals(vm.id.toString()) && j.underWay())) {
      throw new PsError(failed + "The virtual machine is already being migrated.");
    }
    boolean includeStorage = p.has("IncludeStorage");
    String storagePath = includeStorage ? p.string("DestinationStoragePath") : null;
    if (includeStorage && !destination.folders.contains(key(storagePath))) {
      throw new PsError(failed + "The destination path '" + storagePath + "' does not exist on '" + destinationName + "'.");
    }
    if (!includeStorage) {
      for (String disk : vm.disks) {
        if (!disk.startsWith("\\\\") || !destination.folders.contains(key(shareOf(disk)))) {
          throw new PsError(failed + "The virtual hard disk '" + disk + "' is not on storage that '" + destinationName
              + "' can reach. Move the storage too (-IncludeStorage) or keep it on an SMB share.");
        }
      }
    }
    long diskBytes = includeStorage ? vm.disks.stream().mapToLong(d -> files(d).getOrDefault(key(d), 0L)).sum() : 0;
    MigrationJob job = new MigrationJob(vm, destination, destinationName, storagePath, (live ? vm.memoryStartup : 0) + diskBytes);
    if (refuseCancels) {
      job.refuseCancel();
    }
    migrationJobs.add(job);
    network.vmms.submit(() -> transfer(job));
    try {
      job.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new PsError("Move-VM : The pipeline has been stopped."); // the transfer goes on
    }
    if (job.jobState != MigrationJob.COMPLETED) {
      throw new PsError(failed + job.errorDescription);
    }
    return List.of();
  }

  private long memoryFree() {
    return memoryCapacity - vms.stream().mapToLong(SimulatedVm::memoryAssigned).sum();
  }

  private static String shareOf(String path) {
    String[] parts = path.substring(2).split("\\\\");
    return "\\\\" + parts[0] + "\\" + parts[1];
  }

  /** The management service's side of a live migration: copy, then switch the guest over at once. */
  private void transfer(MigrationJob job) {
    SimulatedVm vm = job.vm;
    long bytesPerTick = Math.max(1, network.migrationBytesPerSecond() / 10);
    try {
      // The job is New, then Starting (the hosts negotiate), before any memory moves.
      for (int state : new int[] {MigrationJob.NEW, MigrationJob.STARTING}) {
        job.jobState = state;
        Thread.sleep(migrationJobStartupMillis / 2);
        if (job.cancelRequested) {
          job.end(MigrationJob.TERMINATED, "The operation was cancelled by the user.");
          return;
        }
      }
      job.jobState = MigrationJob.RUNNING;
      for (long sent = 0; sent < job.totalBytes; sent += bytesPerTick) {
        if (job.cancelRequested) {
          job.end(MigrationJob.TERMINATED, "The operation was cancelled by the user.");
          return;
        }
        if (!job.destination.reachable) {
          job.end(MigrationJob.EXCEPTION, "The migration connection to '" + job.destinationName + "' was lost: the"
              + " destination host did not answer. (0x80072746)");
          return;
        }
        job.percentComplete = (int) Math.min(99, sent * 100 / job.totalBytes);
        Thread.sleep(100);
      }
      synchronized (network) {
        if (job.cancelRequested) {
          job.end(MigrationJob.TERMINATED, "The operation was cancelled by the user.");
          return;
        }
        // The switch-over: the guest leaves this host and runs on the destination, never on both.
        if (job.storagePath != null) {
          List<String> moved = new ArrayList<>();
          for (String disk : vm.disks) {
            String target = job.storagePath + "\\" + disk.substring(disk.lastIndexOf('\\') + 1);
            job.destination.files(target).put(key(target), files(disk).getOrDefault(key(disk), 0L));
            files(disk).remove(key(disk));
            moved.add(target);
            synchronized (vm) {
              vm.bootOrder.replaceAll(entry -> entry.equals("disk:" + disk) ? "disk:" + target : entry);
            }
          }
          vm.disks.clear();
          vm.disks.addAll(moved);
        }
        vms.remove(vm);
        job.destination.vms.add(vm);
        job.percentComplete = 100;
        job.end(MigrationJob.COMPLETED, "");
      }
    } catch (InterruptedException e) {
      job.end(MigrationJob.EXCEPTION, "The Virtual Machine Management Service stopped.");
    }
  }

  private List<Object> getVm(Parameters p) {
    p.allow("Id", "Name");
    p.exclusive("Id", "Name");
    if (p.has("Id")) {
      String id = p.string("Id");
      return one(vms.stream().filter(vm -> vm.id.toString().equalsIgnoreCase(id)).findFirst()
          .orElseThrow(() -> new PsError("Get-VM : Hyper-V was unable to find a virtual machine with ID \"" + id + "\".")));
    }
    if (p.has("Name")) {
      String vmName = p.string("Name");
      List<Object> named = new ArrayList<>(vms.stream().filter(vm -> vm.name.equalsIgnoreCase(vmName)).toList());
      if (named.isEmpty()) {
        throw new PsError("Get-VM : Hyper-V was unable to find a virtual machine with name \"" + vmName + "\".");
      }
      return named;
    }
    return new ArrayList<>(vms);
  }

  private List<Object> newVm(Parameters p) {
    p.allow("Name", "Generation", "MemoryStartupBytes", "NoVHD", "SwitchName");
    long generation = p.has("Generation") ? p.number("Generation") : 1;
    if (generation != 1 && generation != 2) {
      throw new PsError("New-VM : Cannot validate argument on parameter 'Generation'. The argument \"" + generation
          + "\" does not belong to the set \"1,2\".");
    }
    long startup = p.has("MemoryStartupBytes") ? p.number("MemoryStartupBytes") : 512L << 20;
    SimulatedVm vm = new SimulatedVm();
    vm.name = p.string("Name");
    aligned(vm.name, startup);
    vm.generation = (int) generation;
    vm.memoryStartup = startup;
    vm.memoryMinimum = startup;
    vm.memoryMaximum = startup;
    Map<String, String> adapter = new LinkedHashMap<>();
    adapter.put("Name", "Network Adapter");
    adapter.put("SwitchName", p.has("SwitchName") ? p.string("SwitchName") : "");
    vm.adapters.add(adapter);
    vm.bootOrder.add("nic:" + adapter.get("Name"));
    vms.add(vm); // Hyper-V allows two VMs with one name
    return one(vm);
  }

  private List<Object> setVm(Parameters p) {
    p.allow("VM", "ProcessorCount", "Notes");
    SimulatedVm vm = p.vm();
    synchronized (vm) {
      if (p.has("ProcessorCount")) {
        long count = p.number("ProcessorCount");
        if (count != vm.processorCount) {
          refuseWhileSaved(vm, "Set-VM", "Processor");
        }
        if (vm.state != SimulatedVm.State.Off && count != vm.processorCount) {
          throw new PsError("Set-VM : Failed to modify device 'Processor'. Cannot change the processor count of '"
              + vm.name + "' while it is running.");
        }
        vm.processorCount = count;
      }
      if (p.has("Notes")) {
        vm.notes = p.string("Notes");
      }
    }
    return List.of();
  }

  private List<Object> setVmMemory(Parameters p) {
    p.allow("VM", "DynamicMemoryEnabled", "MinimumBytes", "StartupBytes", "MaximumBytes", "Buffer", "Priority");
    SimulatedVm vm = p.vm();
    refuseWhileSaved(vm, "Set-VMMemory", "Memory");
    synchronized (vm) {
      boolean dynamic = p.has("DynamicMemoryEnabled") ? p.bool("DynamicMemoryEnabled") : vm.dynamicMemory;
      // As the real cmdlet (see docs/hyperv-on-real-hosts.md): these need Dynamic Memory on, as passed or as the VM has it.
      if (!dynamic && (p.has("MinimumBytes") || p.has("MaximumBytes") || p.has("Buffer"))) {
        throw new PsError("Set-VMMemory : Setting maximum, minimum, and buffer settings requires Dynamic Memory to be enabled.");
      }
      long startup = p.has("StartupBytes") ? p.number("StartupBytes") : vm.memoryStartup;
      long minimum = p.has("MinimumBytes") ? p.number("MinimumBytes") : vm.memoryMinimum;
      long maximum = p.has("MaximumBytes") ? p.number("MaximumBytes") : vm.memoryMaximum;
      for (long bytes : new long[] {startup, minimum, maximum}) {
        aligned(vm.name, bytes);
      }
      if (dynamic && !(minimum <= startup && startup <= maximum)) {
        throw new PsError("Set-VMMemory : Failed to modify device 'Memory'. Invalid memory settings for '" + vm.name
            + "': the minimum must not exceed the startup memory, nor the startup memory the maximum.");
      }
      if (vm.state != SimulatedVm.State.Off) {
        if (dynamic != vm.dynamicMemory) {
          throw new PsError("Set-VMMemory : Failed to modify device 'Memory'. Dynamic memory cannot be enabled or"
              + " disabled while '" + vm.name + "' is running.");
        }
        if (dynamic && startup != vm.memoryStartup) {
          // Third-party sources only (docs/hyperv-on-real-hosts.md, section 6): the startup memory of a running DM VM is fixed.
          throw new PsError("Set-VMMemory : Failed to modify device 'Memory'. Cannot change the startup memory of '" + vm.name
              + "' while it is running with Dynamic Memory enabled.");
        }
        if (dynamic && (minimum > vm.memoryMinimum || maximum < vm.memoryMaximum)) {
          throw new PsError("Set-VMMemory : Failed to modify device 'Memory'. While '" + vm.name + "' is running its"
              + " minimum memory can only decrease and its maximum memory only increase.");
        }
      }
      long buffer = p.has("Buffer") ? p.int32("Buffer") : vm.memoryBuffer;
      long priority = p.has("Priority") ? p.int32("Priority") : vm.memoryPriority;
      if (buffer < 5 || buffer > 2000) {
        throw new PsError("Set-VMMemory : Cannot validate argument on parameter 'Buffer'. The " + buffer
            + " argument is greater than the maximum allowed range of 2000 or less than 5.");
      }
      if (priority < 0 || priority > 100) {
        throw new PsError("Set-VMMemory : Cannot validate argument on parameter 'Priority'. The " + priority
            + " argument is greater than the maximum allowed range of 100.");
      }
      vm.memoryBuffer = buffer;
      vm.memoryPriority = priority;
      vm.dynamicMemory = dynamic;
      vm.memoryStartup = startup;
      vm.memoryMinimum = dynamic ? minimum : startup;
      vm.memoryMaximum = dynamic ? maximum : startup;
    }
    return List.of();
  }

  /** Get-VMMemory, of the VMs piped in or of -VM. */
  private List<Object> getVmMemory(Parameters p, List<Object> input) {
    p.allow("VM");
    List<Object> out = new ArrayList<>();
    // An empty pipeline runs the cmdlet for nothing, without asking for its mandatory -VM.
    List<Object> of = p.has("VM") ? List.of(p.vm()) : input;
    for (Object o : of) {
      if (!(o instanceof SimulatedVm vm)) {
        throw new PsError("Get-VMMemory : The input object cannot be bound to any parameters for the command: " + o);
      }
      out.add(vm.memory());
    }
    return out;
  }

  private static final Set<String> SECURE_BOOT_TEMPLATES =
      Set.of("MicrosoftWindows", "MicrosoftUEFICertificateAuthority", "OpenSourceShieldedVM");

  /**
   * Set-VMFirmware, as the decompiled cmdlet checks it (docs/hyperv-on-real-hosts.md, section 6):
   * Generation 2 only, BootOrder and FirstBootDevice exclusive, SecureBootTemplate and
   * SecureBootTemplateId exclusive, boot entries that are devices of this VM. That firmware
   * settings are refused while the VM runs is what the Hyper-V manager shows (greyed out); the
   * cmdlet's words for it are not documented.
   */
  private List<Object> setVmFirmware(Parameters p) {
    p.allow("VM", "EnableSecureBoot", "SecureBootTemplate", "SecureBootTemplateId", "BootOrder", "FirstBootDevice");
    SimulatedVm vm = p.vm();
    if (vm.generation != 2) {
      throw new PsError("Set-VMFirmware : Generation 1 virtual machines do not support the firmware settings of"
          + " Set-VMFirmware. (Virtual machine '" + vm.name + "'.)");
    }
    if (p.has("BootOrder") && p.has("FirstBootDevice")) {
      throw new PsError("Set-VMFirmware : The BootOrder and FirstBootEntry parameters are mutually exclusive.");
    }
    if (p.has("SecureBootTemplate") && p.has("SecureBootTemplateId")) {
      throw new PsError("Set-VMFirmware : The SecureBootTemplate and SecureBootTemplateId parameters are mutually exclusive.");
    }
    synchronized (vm) {
      if (vm.state != SimulatedVm.State.Off) {
        throw new PsError("Set-VMFirmware : Failed to modify device 'Firmware'. The operation cannot be performed while"
            + " the virtual machine '" + vm.name + "' is in its current state (" + vm.state + ").");
      }
      Boolean secureBoot = null;
      if (p.has("EnableSecureBoot")) {
        String state = p.string("EnableSecureBoot");
        if (!state.equalsIgnoreCase("On") && !state.equalsIgnoreCase("Off")) {
          throw new PsError("Set-VMFirmware : Cannot bind parameter 'EnableSecureBoot'. Cannot convert value \"" + state
              + "\" to type \"Microsoft.HyperV.PowerShell.OnOffState\". Error: \"Unable to match the identifier name " + state
              + " to a valid enumerator name. Specify one of the following enumerator names and try again: On, Off\"");
        }
        secureBoot = state.equalsIgnoreCase("On");
      }
      String template = null;
      if (p.has("SecureBootTemplate")) {
        template = p.string("SecureBootTemplate");
        String named = template;
        if (SECURE_BOOT_TEMPLATES.stream().noneMatch(t -> t.equalsIgnoreCase(named))) {
          throw new PsError("Set-VMFirmware : The Secure Boot template '" + template + "' could not be found.");
        }
      }
      List<String> order = null;
      if (p.has("BootOrder")) {
        order = new ArrayList<>();
        Object given = p.raw("BootOrder");
        for (Object device : given instanceof List<?> list ? list : java.util.Collections.singletonList(given)) {
          order.add(bootEntry(vm, device));
        }
      }
      if (secureBoot != null) {
        vm.secureBoot = secureBoot;
      }
      if (template != null) {
        String named = template;
        vm.secureBootTemplate = SECURE_BOOT_TEMPLATES.stream().filter(t -> t.equalsIgnoreCase(named)).findFirst().orElseThrow();
      }
      if (order != null) {
        vm.bootOrder.clear();
        vm.bootOrder.addAll(order);
      }
    }
    return List.of();
  }

  /** A device of the VM, as Get-VMHardDiskDrive or Get-VMNetworkAdapter returned it, as a boot entry. */
  private static String bootEntry(SimulatedVm vm, Object device) {
    if (device instanceof PsObject d && vm.id.toString().equals(String.valueOf(d.get("VMId")))) {
      String entry = d.get("Path") != null ? "disk:" + d.get("Path") : "nic:" + d.get("Name");
      if (vm.bootOrder.contains(entry)) {
        return entry;
      }
    }
    throw new PsError("Set-VMFirmware : Cannot bind parameter 'BootOrder'. The object '" + device + "' is not a bootable"
        + " device of the virtual machine '" + vm.name + "'.");
  }

  /** Boots a VM that is off; restores a saved one where it was (both need its memory free). */
  private List<Object> startVm(Parameters p) {
    p.allow("VM");
    SimulatedVm vm = p.vm();
    synchronized (this) {
      if (vm.state == SimulatedVm.State.Running || vm.state == SimulatedVm.State.Starting) {
        return List.of(); // "already in the specified state" is a warning only
      }
      if (vm.state != SimulatedVm.State.Off && vm.state != SimulatedVm.State.Saved) {
        throw invalidState("Start-VM", vm);
      }
      long used = vms.stream().mapToLong(SimulatedVm::memoryAssigned).sum();
      if (used + vm.memoryStartup > memoryCapacity) {
        throw new PsError("Start-VM : '" + vm.name + "' failed to start. Not enough memory in the system to start the"
            + " virtual machine " + vm.name + ". (0x8007000E)");
      }
      for (String disk : vm.disks) {
        if (!files(disk).containsKey(key(disk))) {
          throw new PsError("Start-VM : '" + vm.name + "' failed to start. The system cannot find the file specified: '"
              + disk + "'. (0x80070002)");
        }
      }
      if (vm.state == SimulatedVm.State.Off) {
        vm.bootedFrom = firmwareBoot(vm);
      }
      vm.state = SimulatedVm.State.Running; // a saved guest resumes where it was
    }
    return List.of();
  }

  /**
   * The UEFI firmware of a Generation 2 VM walks its boot entries: a network adapter finds no PXE
   * server here, a disk boots when Secure Boot is off or its template trusts the loader's signer
   * (the Microsoft UEFI CA signs Linux distributions' shim and is in the UEFI CA and open-source
   * templates; Windows's own signer only in the Windows template). Otherwise the firmware shows
   * "The image's hash and certificate are not allowed" and tries the next entry; the VM runs with
   * no guest OS when none boots, as a real one sits at the firmware's screen.
   */
  private static String firmwareBoot(SimulatedVm vm) {
    synchronized (vm) {
      for (String entry : vm.bootOrder) {
        if (!entry.startsWith("disk:")) {
          continue;
        }
        boolean trusted = !vm.secureBoot || (vm.windowsLoader
            ? vm.secureBootTemplate.equals("MicrosoftWindows")
            : !vm.secureBootTemplate.equals("MicrosoftWindows"));
        if (trusted) {
          return entry.substring("disk:".length());
        }
      }
      return null;
    }
  }

  private List<Object> stopVm(Parameters p) {
    p.allow("VM", "Force", "TurnOff");
    SimulatedVm vm = p.vm();
    if (vm.state == SimulatedVm.State.Off) {
      return List.of();
    }
    if (vm.state == SimulatedVm.State.Saved) {
      throw invalidState("Stop-VM", vm);
    }
    if (p.has("TurnOff")) {
      vm.state = SimulatedVm.State.Off;
      return List.of();
    }
    // A guest shutdown: Stop-VM returns when the guest is off, which a hung guest never is.
    try {
      if (!vm.honoursShutdown) {
        Thread.sleep(Long.MAX_VALUE);
      }
      vm.state = SimulatedVm.State.Stopping;
      Thread.sleep(shutdownMillis);
      vm.state = SimulatedVm.State.Off;
      shutdowns.add(vm.name);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new PsError("Stop-VM : The pipeline has been stopped.");
    }
    return List.of();
  }

  /**
   * A power cmdlet (Save-VM, Suspend-VM, Resume-VM) that takes a VM in one of {@code from} to
   * {@code to}; a VM already there is a warning only, any other state is refused.
   */
  private List<Object> powerChange(Parameters p, String cmdlet, Set<SimulatedVm.State> from, SimulatedVm.State to) {
    p.allow("VM");
    SimulatedVm vm = p.vm();
    synchronized (this) {
      if (vm.state != to) {
        if (!from.contains(vm.state)) {
          throw invalidState(cmdlet, vm);
        }
        vm.state = to;
      }
    }
    return List.of();
  }

  /** Discards a saved VM's memory: it is off, and boots afresh when started. */
  private List<Object> removeSavedState(Parameters p) {
    p.allow("VM");
    SimulatedVm vm = p.vm();
    synchronized (this) {
      if (vm.state != SimulatedVm.State.Saved) {
        throw invalidState("Remove-VMSavedState", vm);
      }
      vm.state = SimulatedVm.State.Off;
    }
    return List.of();
  }

  private static PsError invalidState(String cmdlet, SimulatedVm vm) {
    return new PsError(cmdlet + " : '" + vm.name + "' failed to change state. The operation cannot be performed while"
        + " the object is in its current state.");
  }

  /** Hyper-V changes no hardware of a saved VM: the saved state was taken with the hardware it has. */
  private static void refuseWhileSaved(SimulatedVm vm, String cmdlet, String device) {
    if (vm.state == SimulatedVm.State.Saved) {
      throw new PsError(cmdlet + " : Failed to modify device '" + device + "'. The operation cannot be performed while"
          + " the virtual machine '" + vm.name + "' is in its current state (Saved).");
    }
  }

  private List<Object> removeVm(Parameters p) {
    p.allow("VM", "Force");
    SimulatedVm vm = p.vm();
    if (vm.state != SimulatedVm.State.Off) {
      throw new PsError("Remove-VM : The operation cannot be performed while the virtual machine '" + vm.name
          + "' is in its current state.");
    }
    vms.remove(vm);
    return List.of();
  }

  private List<Object> getDisks(Parameters p) {
    p.allow("VM");
    SimulatedVm vm = p.vm();
    List<Object> drives = new ArrayList<>();
    synchronized (vm) {
      for (int i = 0; i < vm.disks.size(); i++) {
        drives.add(PsObject.Record.of("VMId", vm.id.toString(), "Path", vm.disks.get(i), "ControllerLocation", i));
      }
    }
    return drives;
  }

  private List<Object> removeDisks(Parameters p, List<Object> input) {
    p.allow();
    for (Object drive : input) {
      SimulatedVm vm = byId(String.valueOf(((PsObject) drive).get("VMId")));
      refuseWhileSaved(vm, "Remove-VMHardDiskDrive", "Virtual Hard Disk");
      synchronized (vm) {
        vm.disks.remove(String.valueOf(((PsObject) drive).get("Path")));
        vm.bootOrder.remove("disk:" + ((PsObject) drive).get("Path"));
      }
    }
    return List.of();
  }

  private List<Object> addDisk(Parameters p) {
    p.allow("VM", "Path");
    SimulatedVm vm = p.vm();
    refuseWhileSaved(vm, "Add-VMHardDiskDrive", "Virtual Hard Disk");
    String path = p.string("Path");
    if (!files(path).containsKey(key(path))) {
      throw new PsError("Add-VMHardDiskDrive : Failed to add device 'Virtual Hard Disk'. The system cannot find the"
          + " file specified: '" + path + "'.");
    }
    synchronized (vm) {
      vm.disks.add(path);
      vm.bootOrder.add("disk:" + path);
    }
    return List.of();
  }

  private List<Object> getAdapters(Parameters p) {
    p.allow("VM");
    SimulatedVm vm = p.vm();
    List<Object> adapters = new ArrayList<>();
    synchronized (vm) {
      for (Map<String, String> a : vm.adapters) {
        adapters.add(PsObject.Record.of("VMId", vm.id.toString(), "Name", a.get("Name"), "SwitchName", a.get("SwitchName")));
      }
    }
    return adapters;
  }

  private List<Object> removeAdapters(Parameters p, List<Object> input) {
    p.allow();
    for (Object adapter : input) {
      SimulatedVm vm = byId(String.valueOf(((PsObject) adapter).get("VMId")));
      refuseWhileSaved(vm, "Remove-VMNetworkAdapter", "Network Adapter");
      synchronized (vm) {
        vm.adapters.removeIf(a -> a.get("Name").equals(((PsObject) adapter).get("Name")));
        vm.bootOrder.remove("nic:" + ((PsObject) adapter).get("Name"));
      }
    }
    return List.of();
  }

  private List<Object> addAdapter(Parameters p) {
    p.allow("VM", "Name", "SwitchName");
    SimulatedVm vm = p.vm();
    refuseWhileSaved(vm, "Add-VMNetworkAdapter", "Network Adapter");
    String switchName = p.string("SwitchName");
    if (!switches.contains(switchName.toLowerCase(Locale.ROOT))) {
      throw new PsError("Add-VMNetworkAdapter : Unable to find a virtual switch with name \"" + switchName + "\".");
    }
    synchronized (vm) {
      Map<String, String> adapter = new LinkedHashMap<>();
      adapter.put("Name", p.string("Name"));
      adapter.put("SwitchName", switchName);
      vm.adapters.add(adapter);
      vm.bootOrder.add("nic:" + adapter.get("Name"));
    }
    return List.of();
  }

  private List<Object> testPath(Parameters p) {
    p.allow("LiteralPath");
    String path = p.string("LiteralPath");
    boolean shareReachable = touch(path);
    return one(shareReachable && (files(path).containsKey(key(path)) || folders.contains(key(path))));
  }

  private List<Object> getSmbConnection(Parameters p) {
    p.allow("ServerName", "ShareName");
    String wanted = key("\\\\" + p.string("ServerName") + "\\" + p.string("ShareName"));
    List<Object> connections = new ArrayList<>();
    smbConnections.forEach((share, dialect) -> {
      if (share.equals(wanted)) {
        String[] parts = share.substring(2).split("\\\\");
        connections.add(PsObject.Record.of("ServerName", parts[0], "ShareName", parts[1], "Dialect", dialect));
      }
    });
    return connections;
  }

  private List<Object> newVhd(Parameters p) {
    p.allow("Path", "SizeBytes", "Dynamic");
    String path = p.string("Path");
    long size = p.number("SizeBytes");
    requireFolder(path, "New-VHD");
    if (size % 512 != 0 || size < (3L << 20)) {
      throw new PsError("New-VHD : Failed to create the virtual hard disk. The size must be a multiple of 512 bytes"
          + " and at least 3 MB.");
    }
    if (files(path).putIfAbsent(key(path), size) != null) {
      throw new PsError("New-VHD : Failed to create the virtual hard disk. The file exists: '" + path + "'.");
    }
    return one(PsObject.Record.of("Path", path, "Size", size, "VhdType", "Dynamic"));
  }

  private List<Object> getVhd(Parameters p) {
    p.allow("Path");
    String path = p.string("Path");
    touch(path);
    Long size = files(path).get(key(path));
    if (size == null) {
      throw new PsError("Get-VHD : Getting the mounted storage instance for the path '" + path + "' failed. The"
          + " system cannot find the file specified.");
    }
    return one(PsObject.Record.of("Path", path, "Size", size, "VhdType", "Dynamic"));
  }

  private List<Object> copyItem(Parameters p) {
    p.allow("LiteralPath", "Destination");
    String source = p.string("LiteralPath");
    String destination = p.string("Destination");
    touch(source);
    Long size = files(source).get(key(source));
    if (size == null) {
      throw new PsError("Copy-Item : Cannot find path '" + source + "' because it does not exist.");
    }
    requireFolder(destination, "Copy-Item");
    files(destination).put(key(destination), size);
    return List.of();
  }

  private List<Object> renameItem(Parameters p) {
    p.allow("LiteralPath", "NewName");
    String path = p.string("LiteralPath");
    String newName = p.string("NewName");
    if (newName.contains("\\")) {
      throw new PsError("Rename-Item : Cannot rename the specified target, because it represents a path or device name.");
    }
    Long size = files(path).remove(key(path));
    if (size == null) {
      throw new PsError("Rename-Item : Cannot rename because item at '" + path + "' does not exist.");
    }
    String renamed = path.substring(0, path.lastIndexOf('\\') + 1) + newName;
    files(renamed).put(key(renamed), size);
    return List.of();
  }

  private List<Object> removeItem(Parameters p) {
    p.allow("LiteralPath", "Force");
    String path = p.string("LiteralPath");
    touch(path);
    for (SimulatedVm vm : vms) {
      if (vm.state != SimulatedVm.State.Off && vm.disks.stream().anyMatch(d -> key(d).equals(key(path)))) {
        throw new PsError("Remove-Item : Cannot remove item " + path + ": The process cannot access the file because"
            + " it is being used by another process.");
      }
    }
    if (files(path).remove(key(path)) == null) {
      throw new PsError("Remove-Item : Cannot find path '" + path + "' because it does not exist.");
    }
    return List.of();
  }

  /** Files on shares are the file servers', seen by every host of the network; the rest are this host's. */
  private Map<String, Long> files(String path) {
    return path.startsWith("\\\\") ? shareFiles() : localFiles;
  }

  private Map<String, Long> shareFiles() {
    return network.shareFiles;
  }

  private void requireFolder(String path, String cmdlet) {
    touch(path);
    String folder = path.substring(0, Math.max(0, path.lastIndexOf('\\')));
    if (!folders.contains(key(folder))) {
      throw new PsError(cmdlet + " : Could not find a part of the path '" + path + "'.");
    }
  }

  /** Reaching a path on a share opens an SMB connection to it; returns whether the path's share (if any) exists. */
  private boolean touch(String path) {
    if (!path.startsWith("\\\\")) {
      return true;
    }
    String[] parts = path.substring(2).split("\\\\");
    if (parts.length < 2) {
      return false;
    }
    String share = key("\\\\" + parts[0] + "\\" + parts[1]);
    String dialect = shareDialects.get(share);
    if (dialect == null) {
      return false;
    }
    smbConnections.put(share, dialect);
    return true;
  }

  private SimulatedVm byId(String id) {
    return vms.stream().filter(vm -> vm.id.toString().equalsIgnoreCase(id)).findFirst()
        .orElseThrow(() -> new PsError("Hyper-V was unable to find a virtual machine with ID \"" + id + "\"."));
  }

  private static void aligned(String vmName, long bytes) {
    if (bytes % ALIGNMENT != 0) {
      throw new PsError("Failed to modify device 'Memory'. Invalid memory value assigned for '" + vmName + "'. Memory"
          + " values must be properly aligned (" + bytes + " is not a multiple of 2 MB).");
    }
  }

  private static String key(String path) {
    String p = path.replace('/', '\\');
    while (p.length() > 3 && p.endsWith("\\")) {
      p = p.substring(0, p.length() - 1);
    }
    return p.toLowerCase(Locale.ROOT);
  }

  private static List<Object> one(Object o) {
    List<Object> list = new ArrayList<>();
    list.add(o);
    return list;
  }

  /** A cmdlet's named parameters: unknown names are refused as PowerShell refuses them. */
  private final class Parameters {
    private final String cmdlet;
    private final Map<String, Object> values;

    Parameters(String cmdlet, Map<String, Object> values) {
      this.cmdlet = cmdlet;
      this.values = values;
    }

    void allow(String... names) {
      Set<String> allowed = new HashSet<>();
      for (String n : names) {
        allowed.add(n.toLowerCase(Locale.ROOT));
      }
      for (String given : values.keySet()) {
        if (!allowed.contains(given.toLowerCase(Locale.ROOT))) {
          throw new PsError(cmdlet + " : A parameter cannot be found that matches parameter name '" + given + "'.");
        }
      }
    }

    boolean has(String name) {
      return values.keySet().stream().anyMatch(k -> k.equalsIgnoreCase(name));
    }

    Object raw(String name) {
      return values.entrySet().stream().filter(e -> e.getKey().equalsIgnoreCase(name)).map(Map.Entry::getValue)
          .findFirst().orElseThrow(() -> new PsError(cmdlet + " : Cannot process command because of one or more missing"
              + " mandatory parameters: " + name + "."));
    }

    String string(String name) {
      Object v = raw(name);
      if (v == null) {
        throw new PsError(cmdlet + " : Cannot bind argument to parameter '" + name + "' because it is null.");
      }
      return String.valueOf(v);
    }

    long number(String name) {
      Object v = raw(name);
      if (v instanceof Number n) {
        return n.longValue();
      }
      try {
        return Long.parseLong(String.valueOf(v));
      } catch (NumberFormatException e) {
        throw new PsError(cmdlet + " : Cannot bind parameter '" + name + "'. Cannot convert value \"" + v + "\" to type"
            + " \"System.Int64\".");
      }
    }

    /** An Int32 parameter (Set-VMMemory's Buffer and Priority): a longer number does not convert. */
    long int32(String name) {
      long v = number(name);
      if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
        throw new PsError(cmdlet + " : Cannot bind parameter '" + name + "'. Cannot convert value \"" + v + "\" to type"
            + " \"System.Int32\". Error: \"Value was either too large or too small for an Int32.\"");
      }
      return v;
    }

    /** Parameters of different parameter sets given together, which PowerShell refuses before the cmdlet runs. */
    void exclusive(String a, String b) {
      if (has(a) && has(b)) {
        throw new PsError(cmdlet + " : Parameter set cannot be resolved using the specified named parameters.");
      }
    }

    boolean bool(String name) {
      Object v = raw(name);
      if (v instanceof Boolean b) {
        return b;
      }
      throw new PsError(cmdlet + " : Cannot convert '" + v + "' to the type 'System.Boolean' required by parameter '"
          + name + "'.");
    }

    SimulatedVm vm() {
      Object v = raw("VM");
      if (v instanceof SimulatedVm vm && vms.contains(vm)) {
        return vm;
      }
      throw new PsError(cmdlet + " : Cannot validate argument on parameter 'VM'. The argument is null or not a virtual"
          + " machine of this host.");
    }
  }
}
