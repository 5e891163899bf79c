package io.polyvisor.driver.hyperv;

/**
 * Every script the Hyper-V driver runs. Each prints at most one compressed JSON document per line.
 * Enums are turned into their names on the host ({@code "$($_.State)"}), since Windows PowerShell's
 * ConvertTo-Json writes them as numbers.
 */
final class HyperVScripts {

  private HyperVScripts() {}

  static final PowerShellScript CAPACITY = new PowerShellScript("""
      Get-VMHost | Select-Object MemoryCapacity,LogicalProcessorCount | ConvertTo-Json -Compress
      Get-CimInstance -ClassName Win32_OperatingSystem | Select-Object FreePhysicalMemory | ConvertTo-Json -Compress
      """);

  /**
   * The VMs, then their memory settings (Get-VMMemory's, which alone has the buffer and priority),
   * keyed by VMId; a VM whose settings cannot be read is listed without them (and none of its
   * memory is changed live), rather than failing the listing of every VM on the host.
   */
  static final PowerShellScript LIST = new PowerShellScript("""
      Get-VM | Select-Object Name,Notes,MemoryAssigned,MemoryStartup,MemoryMaximum,@{n='State';e={"$($_.State)"}},@{n='Id';e={"$($_.VMId)"}} | ConvertTo-Json -Compress
      Get-VM | Get-VMMemory -ErrorAction SilentlyContinue | Select-Object @{n='Id';e={"$($_.VMId)"}},DynamicMemoryEnabled,Minimum,Startup,Maximum,Buffer,Priority | ConvertTo-Json -Compress
      """);

  /** Whether the host lets a VM's memory span NUMA nodes (a host-wide setting, the administrator's). */
  static final PowerShellScript NUMA_SPANNING = new PowerShellScript("""
      Get-VMHost | Select-Object NumaSpanningEnabled | ConvertTo-Json -Compress
      """);

  /**
   * Dynamic Memory settings that Hyper-V takes while the VM runs; startup memory and Dynamic
   * Memory on or off are left out, as a running VM refuses them ({@link DynamicMemoryRules}).
   */
  static final PowerShellScript CHANGE_MEMORY = new PowerShellScript("""
      $vm = Get-VM -Id $p.id
      Set-VMMemory -VM $vm -MinimumBytes $p.minimumBytes -MaximumBytes $p.maximumBytes -Buffer $p.buffer -Priority $p.priority
      """);

  /**
   * Memory, processors, disks, network adapters and firmware of a VM that is off, replaced whole;
   * the notes (uid and revision) last, so that a VM whose configuration failed half-way still
   * shows the old revision and is configured again.
   *
   * @param create a new VM, or the existing one with VMId {@code $p.id}
   * @param secureBoot Secure Boot on with the template {@code $p.secureBootTemplate}, or off
   * @param bootOrder the firmware boots the disks {@code $p.bootPaths} in that order (only they:
   *     Set-VMFirmware -BootOrder drops the devices it is not given, the network adapters among
   *     them, so the firmware never waits on PXE first); without it Hyper-V keeps the order the
   *     devices were added in
   */
  static PowerShellScript configure(boolean create, boolean dynamicMemory, boolean secureBoot, boolean bootOrder) {
    return new PowerShellScript((create ? NEW_VM : EXISTING_VM)
        + "Set-VM -VM $vm -ProcessorCount $p.cores\n"
        + (dynamicMemory ? DYNAMIC_MEMORY : STATIC_MEMORY)
        + DEVICES
        + (secureBoot ? SECURE_BOOT_ON : SECURE_BOOT_OFF)
        + (bootOrder ? BOOT_ORDER : "")
        + "Set-VM -VM $vm -Notes $p.notes\n");
  }

  /**
   * Memory of a Static VM: Set-VMMemory refuses a minimum, a maximum or a buffer while Dynamic
   * Memory is off ("Setting maximum, minimum, and buffer settings requires Dynamic Memory to be
   * enabled.", see docs/hyperv-on-real-hosts.md), so they go only with Dynamic memory.
   */
  private static final String STATIC_MEMORY = """
      Set-VMMemory -VM $vm -DynamicMemoryEnabled $p.dynamic -StartupBytes $p.startupBytes -Priority $p.priority
      """;

  private static final String DYNAMIC_MEMORY = """
      Set-VMMemory -VM $vm -DynamicMemoryEnabled $p.dynamic -MinimumBytes $p.minimumBytes -StartupBytes $p.startupBytes -MaximumBytes $p.maximumBytes -Buffer $p.buffer -Priority $p.priority
      """;

  private static final String DEVICES = """
      Get-VMHardDiskDrive -VM $vm | Remove-VMHardDiskDrive
      foreach ($disk in $p.disks) { Add-VMHardDiskDrive -VM $vm -Path $disk }
      Get-VMNetworkAdapter -VM $vm | Remove-VMNetworkAdapter
      foreach ($nic in $p.nics) { Add-VMNetworkAdapter -VM $vm -Name $nic.name -SwitchName $nic.switch }
      """;

  /** Generation 2 only, as every VM here is; the template by name (its GUID would do as well, not both). */
  private static final String SECURE_BOOT_ON = """
      Set-VMFirmware -VM $vm -EnableSecureBoot On -SecureBootTemplate $p.secureBootTemplate
      """;
  private static final String SECURE_BOOT_OFF = """
      Set-VMFirmware -VM $vm -EnableSecureBoot Off
      """;

  /** -BootOrder takes the drives themselves (VMComponentObjects), found again by their paths. */
  private static final String BOOT_ORDER = """
      $drives = Get-VMHardDiskDrive -VM $vm
      $boot = foreach ($path in $p.bootPaths) { $drives | Where-Object Path -eq $path }
      Set-VMFirmware -VM $vm -BootOrder $boot
      """;

  private static final String NEW_VM = """
      $vm = New-VM -Name $p.name -Generation 2 -MemoryStartupBytes $p.startupBytes -NoVHD
      Set-VM -VM $vm -Notes $p.identity
      """;
  private static final String EXISTING_VM = """
      $vm = Get-VM -Id $p.id
      """;

  /** Boots a VM that is off, resumes one that is saved. */
  static final PowerShellScript START = new PowerShellScript("""
      $vm = Get-VM -Id $p.id
      Start-VM -VM $vm
      """);

  /** Freezes a running VM where it is (its memory stays in the host's RAM). */
  static final PowerShellScript PAUSE = new PowerShellScript("""
      $vm = Get-VM -Id $p.id
      Suspend-VM -VM $vm
      """);

  /** Lets a paused VM run on; Start-VM refuses a paused VM. */
  static final PowerShellScript RESUME = new PowerShellScript("""
      $vm = Get-VM -Id $p.id
      Resume-VM -VM $vm
      """);

  /**
   * Asks the guest to shut down through its Shutdown integration service and returns at once
   * (Msvm_ShutdownComponent.InitiateShutdown), printing the method's ReturnValue, or nothing when
   * the guest has no such service running. Not Stop-VM: it waits for the guest to be off, for as
   * long as that takes, so a caller that only asks would have to cut the command short, and a
   * command cut short before powershell.exe has started never asked; and {@code Stop-VM -Force}
   * cuts the power of a guest whose service is unavailable (docs/hyperv-on-real-hosts.md, 3).
   * Force: applications with unsaved data do not hold the shutdown up, as with Stop-VM -Force.
   */
  static final PowerShellScript INITIATE_SHUTDOWN = new PowerShellScript("""
      Get-CimInstance -Namespace root\\virtualization\\v2 -ClassName Msvm_ShutdownComponent | Where-Object SystemName -eq $p.id | Invoke-CimMethod -MethodName InitiateShutdown -Arguments @{Force=$true; Reason=$p.reason} | Select-Object ReturnValue | ConvertTo-Json -Compress
      """);

  static final PowerShellScript TURN_OFF = new PowerShellScript("""
      $vm = Get-VM -Id $p.id
      Stop-VM -VM $vm -TurnOff -Force
      """);

  /** Removes the configuration only: Remove-VM never deletes disks. */
  static final PowerShellScript REMOVE = new PowerShellScript("""
      $vm = Get-VM -Id $p.id
      Remove-VM -VM $vm -Force
      """);

  /** Removes a saved VM: its saved state (memory, not disks) first, then its configuration. */
  static final PowerShellScript REMOVE_SAVED = new PowerShellScript("""
      $vm = Get-VM -Id $p.id
      Remove-VMSavedState -VM $vm
      Remove-VM -VM $vm -Force
      """);

  /** Touching the folder opens the SMB session whose dialect Get-SmbConnection then reports. */
  static final PowerShellScript SMB_DIALECT = new PowerShellScript("""
      $null = Test-Path -LiteralPath $p.folder
      Get-SmbConnection -ServerName $p.server -ShareName $p.share -ErrorAction SilentlyContinue | Select-Object Dialect | ConvertTo-Json -Compress
      """);

  static final PowerShellScript EXISTS = new PowerShellScript("""
      Test-Path -LiteralPath $p.path | ConvertTo-Json -Compress
      """);

  static final PowerShellScript VHD_INFO = new PowerShellScript("""
      Get-VHD -Path $p.path | Select-Object Path,Size | ConvertTo-Json -Compress
      """);

  static final PowerShellScript NEW_VHD = new PowerShellScript("""
      New-VHD -Path $p.path -SizeBytes $p.sizeBytes -Dynamic | Select-Object Path,Size | ConvertTo-Json -Compress
      """);

  static final PowerShellScript COPY_VHD = new PowerShellScript("""
      Copy-Item -LiteralPath $p.source -Destination $p.partial
      Rename-Item -LiteralPath $p.partial -NewName $p.name
      Get-VHD -Path $p.path | Select-Object Path,Size | ConvertTo-Json -Compress
      """);

  static final PowerShellScript DELETE_FILE = new PowerShellScript("""
      Remove-Item -LiteralPath $p.path -Force -ErrorAction SilentlyContinue
      """);

  /** The destination's name as Move-VM wants it, and whether it accepts migrations at all. */
  static final PowerShellScript MIGRATION_HOST = new PowerShellScript("""
      Get-VMHost | Select-Object FullyQualifiedDomainName,VirtualMachineMigrationEnabled | ConvertTo-Json -Compress
      """);

  /** Live migration of a guest whose files every host reaches on an SMB share: memory moves only. */
  static final PowerShellScript MOVE = new PowerShellScript("""
      $vm = Get-VM -Id $p.id
      Move-VM -VM $vm -DestinationHost $p.destination
      """);

  /** Live migration that moves the guest's files into a folder of the destination as well. */
  static final PowerShellScript MOVE_WITH_STORAGE = new PowerShellScript("""
      $vm = Get-VM -Id $p.id
      Move-VM -VM $vm -DestinationHost $p.destination -IncludeStorage -DestinationStoragePath $p.storagePath
      """);

  /** The host's migration jobs of one VM: they outlive the command that started them. */
  static final PowerShellScript MIGRATION_JOBS = new PowerShellScript("""
      Get-CimInstance -Namespace root\\virtualization\\v2 -ClassName Msvm_MigrationJob | Where-Object VirtualSystemName -eq $p.id | Select-Object InstanceID,PercentComplete,JobState,ErrorDescription,DestinationHost | ConvertTo-Json -Compress
      """);

  /**
   * Msvm_MigrationJob.RequestStateChange(4), Terminate, for every job of the guest not yet ended
   * (New 2, Starting 3, Running 4, Suspended 5: a job is New and Starting before it runs), printing
   * each ReturnValue; the guest stays on the source.
   */
  static final PowerShellScript CANCEL_MIGRATION = new PowerShellScript("""
      Get-CimInstance -Namespace root\\virtualization\\v2 -ClassName Msvm_MigrationJob | Where-Object VirtualSystemName -eq $p.id | Where-Object JobState -lt 6 | Invoke-CimMethod -MethodName RequestStateChange -Arguments @{RequestedState=4} | Select-Object ReturnValue | ConvertTo-Json -Compress
      """);

  static final PowerShellScript DISK_PATHS = new PowerShellScript("""
      $vm = Get-VM -Id $p.id
      Get-VMHardDiskDrive -VM $vm | Select-Object Path | ConvertTo-Json -Compress
      """);
}
