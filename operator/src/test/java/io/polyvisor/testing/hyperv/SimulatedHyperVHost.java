package io.polyvisor.testing.hyperv;

import java.util.ArrayList;
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
 */
public final class SimulatedHyperVHost implements PowerShellSubset.Cmdlets {

  private static final long ALIGNMENT = 2L << 20;

  private final String computerName;
  private final long memoryCapacity;
  private final int logicalProcessors;
  private final List<SimulatedVm> vms = new CopyOnWriteArrayList<>();
  private final Map<String, Long> files = new ConcurrentHashMap<>();
  private final Set<String> folders = ConcurrentHashMap.newKeySet();
  private final Map<String, String> shareDialects = new ConcurrentHashMap<>();
  private final Set<String> switches = ConcurrentHashMap.newKeySet();
  private final Map<String, String> smbConnections = new ConcurrentHashMap<>();
  private volatile long shutdownMillis = 300;

  public SimulatedHyperVHost(String computerName, long memoryCapacity, int logicalProcessors) {
    this.computerName = computerName;
    this.memoryCapacity = memoryCapacity;
    this.logicalProcessors = logicalProcessors;
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
    files.put(key(path), size);
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

  public Optional<Map<String, Object>> propertiesOf(String vmName) {
    return vms.stream().filter(vm -> vm.name.equals(vmName)).map(SimulatedVm::properties).findFirst();
  }

  public List<String> disksOf(String vmName) {
    return vms.stream().filter(vm -> vm.name.equals(vmName)).findFirst().map(vm -> List.copyOf(vm.disks)).orElse(List.of());
  }

  public Set<String> filePaths() {
    return Set.copyOf(files.keySet());
  }

  /** Makes the VM's guest ignore shutdown requests (no integration services), as a hung guest does. */
  public void ignoreShutdown(String vmName) {
    vms.stream().filter(vm -> vm.name.equals(vmName)).forEach(vm -> vm.honoursShutdown = false);
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
      case "start-vm" -> startVm(p);
      case "stop-vm" -> stopVm(p);
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
      case "remove-item" -> removeItem(p);
      default -> throw new PsError("The term '" + name + "' is not recognized as the name of a cmdlet, function, script"
          + " file, or operable program.");
    };
  }

  private List<Object> getVmHost(Parameters p) {
    p.allow();
    return one(PsObject.Record.of("ComputerName", computerName, "MemoryCapacity", memoryCapacity,
        "LogicalProcessorCount", logicalProcessors));
  }

  private List<Object> getCimInstance(Parameters p) {
    p.allow("ClassName");
    if (!"Win32_OperatingSystem".equalsIgnoreCase(p.string("ClassName"))) {
      throw new PsError("Get-CimInstance : the simulator knows only Win32_OperatingSystem");
    }
    long used = vms.stream().mapToLong(SimulatedVm::memoryAssigned).sum();
    return one(PsObject.Record.of("FreePhysicalMemory", (memoryCapacity - used) / 1024));
  }

  private List<Object> getVm(Parameters p) {
    p.allow("Id", "Name");
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
    vms.add(vm); // Hyper-V allows two VMs with one name
    return one(vm);
  }

  private List<Object> setVm(Parameters p) {
    p.allow("VM", "ProcessorCount", "Notes");
    SimulatedVm vm = p.vm();
    synchronized (vm) {
      if (p.has("ProcessorCount")) {
        long count = p.number("ProcessorCount");
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
    synchronized (vm) {
      boolean dynamic = p.has("DynamicMemoryEnabled") ? p.bool("DynamicMemoryEnabled") : vm.dynamicMemory;
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
        if (dynamic && (minimum > vm.memoryMinimum || maximum < vm.memoryMaximum)) {
          throw new PsError("Set-VMMemory : Failed to modify device 'Memory'. While '" + vm.name + "' is running its"
              + " minimum memory can only decrease and its maximum memory only increase.");
        }
      }
      vm.dynamicMemory = dynamic;
      vm.memoryStartup = startup;
      vm.memoryMinimum = dynamic ? minimum : startup;
      vm.memoryMaximum = dynamic ? maximum : startup;
    }
    return List.of();
  }

  private List<Object> startVm(Parameters p) {
    p.allow("VM");
    SimulatedVm vm = p.vm();
    synchronized (this) {
      if (vm.state != SimulatedVm.State.Off) {
        return List.of(); // "already in the specified state" is a warning only
      }
      long used = vms.stream().mapToLong(SimulatedVm::memoryAssigned).sum();
      if (used + vm.memoryStartup > memoryCapacity) {
        throw new PsError("Start-VM : '" + vm.name + "' failed to start. Not enough memory in the system to start the"
            + " virtual machine " + vm.name + ". (0x8007000E)");
      }
      for (String disk : vm.disks) {
        if (!files.containsKey(key(disk))) {
          throw new PsError("Start-VM : '" + vm.name + "' failed to start. The system cannot find the file specified: '"
              + disk + "'. (0x80070002)");
        }
      }
      vm.state = SimulatedVm.State.Running;
    }
    return List.of();
  }

  private List<Object> stopVm(Parameters p) {
    p.allow("VM", "Force", "TurnOff");
    SimulatedVm vm = p.vm();
    if (vm.state == SimulatedVm.State.Off) {
      return List.of();
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
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new PsError("Stop-VM : The pipeline has been stopped.");
    }
    return List.of();
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
      synchronized (vm) {
        vm.disks.remove(String.valueOf(((PsObject) drive).get("Path")));
      }
    }
    return List.of();
  }

  private List<Object> addDisk(Parameters p) {
    p.allow("VM", "Path");
    SimulatedVm vm = p.vm();
    String path = p.string("Path");
    if (!files.containsKey(key(path))) {
      throw new PsError("Add-VMHardDiskDrive : Failed to add device 'Virtual Hard Disk'. The system cannot find the"
          + " file specified: '" + path + "'.");
    }
    synchronized (vm) {
      vm.disks.add(path);
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
      synchronized (vm) {
        vm.adapters.removeIf(a -> a.get("Name").equals(((PsObject) adapter).get("Name")));
      }
    }
    return List.of();
  }

  private List<Object> addAdapter(Parameters p) {
    p.allow("VM", "Name", "SwitchName");
    SimulatedVm vm = p.vm();
    String switchName = p.string("SwitchName");
    if (!switches.contains(switchName.toLowerCase(Locale.ROOT))) {
      throw new PsError("Add-VMNetworkAdapter : Unable to find a virtual switch with name \"" + switchName + "\".");
    }
    synchronized (vm) {
      Map<String, String> adapter = new LinkedHashMap<>();
      adapter.put("Name", p.string("Name"));
      adapter.put("SwitchName", switchName);
      vm.adapters.add(adapter);
    }
    return List.of();
  }

  private List<Object> testPath(Parameters p) {
    p.allow("LiteralPath");
    String path = p.string("LiteralPath");
    boolean reachable = touch(path);
    return one(reachable && (files.containsKey(key(path)) || folders.contains(key(path))));
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
    if (files.putIfAbsent(key(path), size) != null) {
      throw new PsError("New-VHD : Failed to create the virtual hard disk. The file exists: '" + path + "'.");
    }
    return one(PsObject.Record.of("Path", path, "Size", size, "VhdType", "Dynamic"));
  }

  private List<Object> getVhd(Parameters p) {
    p.allow("Path");
    String path = p.string("Path");
    touch(path);
    Long size = files.get(key(path));
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
    Long size = files.get(key(source));
    if (size == null) {
      throw new PsError("Copy-Item : Cannot find path '" + source + "' because it does not exist.");
    }
    requireFolder(destination, "Copy-Item");
    files.put(key(destination), size);
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
    if (files.remove(key(path)) == null) {
      throw new PsError("Remove-Item : Cannot find path '" + path + "' because it does not exist.");
    }
    return List.of();
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
