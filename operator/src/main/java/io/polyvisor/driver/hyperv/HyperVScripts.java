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

  static final PowerShellScript LIST = new PowerShellScript("""
      Get-VM | Select-Object Name,Notes,MemoryAssigned,MemoryStartup,MemoryMaximum,@{n='State';e={"$($_.State)"}},@{n='Id';e={"$($_.VMId)"}} | ConvertTo-Json -Compress
      """);

  /** Memory, processors, notes, disks and network adapters of a VM that is off, replaced whole. */
  private static final String CONFIGURE = """
      Set-VM -VM $vm -ProcessorCount $p.cores -Notes $p.notes
      Set-VMMemory -VM $vm -DynamicMemoryEnabled $p.dynamic -MinimumBytes $p.minimumBytes -StartupBytes $p.startupBytes -MaximumBytes $p.maximumBytes
      Get-VMHardDiskDrive -VM $vm | Remove-VMHardDiskDrive
      foreach ($disk in $p.disks) { Add-VMHardDiskDrive -VM $vm -Path $disk }
      Get-VMNetworkAdapter -VM $vm | Remove-VMNetworkAdapter
      foreach ($nic in $p.nics) { Add-VMNetworkAdapter -VM $vm -Name $nic.name -SwitchName $nic.switch }
      """;

  static final PowerShellScript CREATE = new PowerShellScript("""
      $vm = New-VM -Name $p.name -Generation 2 -MemoryStartupBytes $p.startupBytes -NoVHD
      """ + CONFIGURE + """
      $vm | Select-Object @{n='Id';e={"$($_.VMId)"}} | ConvertTo-Json -Compress
      """);

  static final PowerShellScript RECONFIGURE = new PowerShellScript("""
      $vm = Get-VM -Id $p.id
      """ + CONFIGURE);

  static final PowerShellScript START = new PowerShellScript("""
      $vm = Get-VM -Id $p.id
      Start-VM -VM $vm
      """);

  /** Asks the guest to shut down through its integration services; the caller bounds the wait. */
  static final PowerShellScript SHUTDOWN = new PowerShellScript("""
      $vm = Get-VM -Id $p.id
      Stop-VM -VM $vm -Force
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

  /** Touching the folder opens the SMB session whose dialect Get-SmbConnection then reports. */
  static final PowerShellScript SMB_DIALECT = new PowerShellScript("""
      $null = Test-Path -LiteralPath $p.folder
      Get-SmbConnection -ServerName $p.server -ShareName $p.share | Select-Object Dialect | ConvertTo-Json -Compress
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
      Copy-Item -LiteralPath $p.source -Destination $p.path
      Get-VHD -Path $p.path | Select-Object Path,Size | ConvertTo-Json -Compress
      """);

  static final PowerShellScript DELETE_FILE = new PowerShellScript("""
      Remove-Item -LiteralPath $p.path -Force -ErrorAction SilentlyContinue
      """);
}
