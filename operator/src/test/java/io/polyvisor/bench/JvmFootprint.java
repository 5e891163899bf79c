package io.polyvisor.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a running JVM holds, read from outside it: the heap in use right after a full collection
 * (jcmd), its resident memory and its threads (/proc).
 */
record JvmFootprint(long heapAfterGcMiB, long rssMiB, int threads) {

  private static final Pattern HEAP_USED = Pattern.compile("total \\d+K, used (\\d+)K");

  static JvmFootprint of(long pid) throws IOException, InterruptedException {
    jcmd(pid, "GC.run");
    Matcher used = HEAP_USED.matcher(jcmd(pid, "GC.heap_info"));
    if (!used.find()) {
      throw new IllegalStateException("jcmd " + pid + " GC.heap_info printed no heap figure");
    }
    String status = Files.readString(Path.of("/proc", String.valueOf(pid), "status"), StandardCharsets.US_ASCII);
    return new JvmFootprint(Long.parseLong(used.group(1)) / 1024, field(status, "VmRSS") / 1024, (int) field(status, "Threads"));
  }

  private static long field(String status, String name) {
    return status.lines().filter(l -> l.startsWith(name + ":")).findFirst()
        .map(l -> Long.parseLong(l.replaceAll("\\D", ""))).orElseThrow(() -> new IllegalStateException("no " + name + " in /proc status"));
  }

  private static String jcmd(long pid, String command) throws IOException, InterruptedException {
    String jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd").toString();
    Process process = new ProcessBuilder(jcmd, String.valueOf(pid), command).redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!process.waitFor(60, TimeUnit.SECONDS) || process.exitValue() != 0) {
      throw new IllegalStateException("jcmd " + pid + " " + command + " failed: " + output);
    }
    return output;
  }
}
