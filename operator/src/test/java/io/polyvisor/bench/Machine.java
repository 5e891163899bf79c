package io.polyvisor.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** The machine a benchmark ran on, so that a committed result says where it comes from. */
final class Machine {

  private Machine() {}

  static Map<String, Object> describe() {
    Map<String, Object> machine = new LinkedHashMap<>();
    machine.put("cpu", cpuModel());
    machine.put("cpus", Runtime.getRuntime().availableProcessors());
    machine.put("memoryMiB", memoryMiB());
    machine.put("kernel", firstLine("uname", "-r"));
    machine.put("libvirt", firstLine("libvirtd", "--version"));
    machine.put("qemu", firstLine("qemu-system-x86_64", "--version"));
    machine.put("java", System.getProperty("java.version"));
    return machine;
  }

  static String summary() {
    Map<String, Object> m = describe();
    return m.get("cpus") + " × " + m.get("cpu") + ", " + m.get("memoryMiB") + " MiB, Linux " + m.get("kernel") + ", "
        + m.get("libvirt") + ", " + m.get("qemu") + ", Java " + m.get("java");
  }

  private static String cpuModel() {
    return read("/proc/cpuinfo").lines().filter(l -> l.startsWith("model name")).findFirst()
        .map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("unknown");
  }

  private static long memoryMiB() {
    return read("/proc/meminfo").lines().filter(l -> l.startsWith("MemTotal:")).findFirst()
        .map(l -> Long.parseLong(l.replaceAll("\\D", "")) / 1024).orElse(0L);
  }

  private static String read(String file) {
    try {
      return Files.readString(Path.of(file), StandardCharsets.US_ASCII);
    } catch (IOException e) {
      return "";
    }
  }

  private static String firstLine(String... command) {
    try {
      Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
      String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      process.waitFor(10, TimeUnit.SECONDS);
      return output.lines().findFirst().orElse("unknown").trim();
    } catch (IOException e) {
      return "unknown";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "unknown";
    }
  }
}
