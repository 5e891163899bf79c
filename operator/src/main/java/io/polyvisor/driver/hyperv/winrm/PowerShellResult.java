package io.polyvisor.driver.hyperv.winrm;

/** What a remote PowerShell script printed and how it exited. */
public record PowerShellResult(int exitCode, String stdout, String stderr) {

  /** The script's errors as text, empty when it reported none (progress records are not errors). */
  public String errors() {
    return Clixml.errors(stderr);
  }

  public boolean succeeded() {
    return exitCode == 0 && errors().isEmpty();
  }
}
