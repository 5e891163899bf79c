package io.polyvisor.testing.hyperv;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/** A VM on a simulated Hyper-V host, with the properties Get-VM shows. */
final class SimulatedVm implements PsObject {

  /**
   * Hyper-V's VMState, those the simulator's VMs pass through, with their numbers (the decompiled
   * VMState of Windows Server 2025's Hyper-V module, docs/hyperv-on-real-hosts.md, section 4; the
   * numbers moved between versions, so the driver reads names). PausedCritical: paused by Hyper-V
   * itself, the VM's storage being unreachable. Get-VM's State is this enum: it prints as its name
   * in a string ({@code "$($_.State)"}) and as its number in ConvertTo-Json, as PowerShell 5.1
   * prints enums there.
   */
  enum State implements PsObject.PsEnum {
    Off(3), Running(2), Stopping(4), Starting(10), Saved(6), Paused(9), PausedCritical(32789);

    private final int number;

    State(int number) {
      this.number = number;
    }

    @Override
    public int number() {
      return number;
    }
  }

  final UUID id = UUID.randomUUID();
  volatile String name;
  volatile State state = State.Off;
  volatile String notes = "";
  volatile int generation;
  volatile long processorCount = 1;
  volatile boolean dynamicMemory;
  volatile long memoryStartup;
  volatile long memoryMinimum;
  volatile long memoryMaximum;
  volatile long memoryBuffer = 20;
  volatile long memoryPriority = 50;
  /** Secure Boot, on with Hyper-V's default template for Generation 2 VMs until Set-VMFirmware changes it. */
  volatile boolean secureBoot = true;
  volatile String secureBootTemplate = "MicrosoftWindows";
  /**
   * The firmware's boot entries, "disk:<path>" and "nic:<name>": a device added is appended, one
   * removed drops out, Set-VMFirmware -BootOrder replaces them.
   */
  final List<String> bootOrder = new ArrayList<>();
  /** Whose loader the VM's disks hold: a Linux distribution's shim (signed by the Microsoft UEFI CA) or Windows's. */
  volatile boolean windowsLoader;
  /** The disk whose loader the firmware last booted; null when no guest OS came up (nothing the firmware trusted). */
  volatile String bootedFrom;
  /** Whether the guest OS honours a shutdown request (its integration services run). */
  volatile boolean honoursShutdown = true;
  final List<String> disks = new ArrayList<>();
  final List<Map<String, String>> adapters = new ArrayList<>();

  /** A saved VM's memory is in a file: it holds none of the host's. */
  long memoryAssigned() {
    return state == State.Off || state == State.Saved ? 0 : memoryStartup;
  }

  @Override
  public synchronized Map<String, Object> properties() {
    Map<String, Object> p = new LinkedHashMap<>();
    p.put("Name", name);
    p.put("VMId", id.toString());
    p.put("Id", id.toString());
    p.put("State", state);
    p.put("Generation", generation);
    p.put("Notes", notes);
    p.put("ProcessorCount", processorCount);
    p.put("DynamicMemoryEnabled", dynamicMemory);
    p.put("MemoryStartup", memoryStartup);
    p.put("MemoryMinimum", memoryMinimum);
    p.put("MemoryMaximum", memoryMaximum);
    p.put("MemoryAssigned", memoryAssigned());
    return p;
  }

  /** Get-VMMemory's object: the only one with the buffer and priority. */
  PsObject memory() {
    return PsObject.Record.of("VMId", id.toString(), "VMName", name, "DynamicMemoryEnabled", dynamicMemory,
        "Minimum", memoryMinimum, "Startup", memoryStartup, "Maximum", memoryMaximum, "Buffer", memoryBuffer,
        "Priority", memoryPriority);
  }

  /** Whether a guest OS runs, with the integration services it brings. */
  boolean guestUp() {
    return state == State.Running && bootedFrom != null;
  }

  @Override
  public String toString() {
    return "VirtualMachine (Name = '" + name + "') [Id = '" + id + "']";
  }
}
