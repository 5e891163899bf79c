package io.polyvisor.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.polyvisor.testing.KvmNodes;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Where a benchmark's figures go: {@code <name>.json} and {@code <name>.md} in the results folder,
 * and {@code README.md} there gathering every benchmark's table under the machine they ran on.
 * The full run ({@code testbed/bench}, {@code -Dbench.full=true}) writes to {@code bench/results/},
 * which is committed; the short run of the test command only proves the benchmark code works and
 * writes to {@code operator/target/bench/}.
 */
final class BenchReport {

  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private BenchReport() {}

  /** Whether this is the full run, whose sizes are the and whose results are kept. */
  static boolean full() {
    return Boolean.getBoolean("bench.full");
  }

  static Path folder() {
    return full() ? KvmNodes.REPO.resolve("bench/results") : KvmNodes.REPO.resolve("operator/target/bench");
  }

  /** Writes the benchmark's figures and its markdown section, then the folder's README again. */
  static void write(String name, Map<String, Object> figures, String markdown) {
    try {
      Path folder = Files.createDirectories(folder());
      Map<String, Object> document = new LinkedHashMap<>();
      document.put("benchmark", name);
      document.put("mode", full() ? "full" : "short");
      document.put("finished", Instant.now().toString());
      document.put("machine", Machine.describe());
      document.putAll(figures);
      Files.writeString(folder.resolve(name + ".json"), JSON.writeValueAsString(document) + "\n");
      Files.writeString(folder.resolve(name + ".md"), markdown.strip() + "\n");
      writeReadme(folder);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the results of " + name, e);
    }
  }

  private static void writeReadme(Path folder) throws IOException {
    StringBuilder readme = new StringBuilder("# Benchmark results\n\n")
        .append("Written by `testbed/bench`; each benchmark sets the operator against a floor measured in the same run on the")
        .append(" same machine (see README, \"Benchmarks\"). Machine: ").append(Machine.summary()).append(".\n");
    try (Stream<Path> sections = Files.list(folder)) {
      for (Path section : sections.filter(p -> p.toString().endsWith(".md") && !p.endsWith("README.md")).sorted().toList()) {
        readme.append("\n").append(Files.readString(section, StandardCharsets.UTF_8));
      }
    }
    Files.writeString(folder.resolve("README.md"), readme.toString());
  }

  /** A markdown table from a header row and rows of cells. */
  static String table(List<String> header, List<List<String>> rows) {
    StringBuilder table = new StringBuilder("| ").append(String.join(" | ", header)).append(" |\n|");
    header.forEach(h -> table.append(" --- |"));
    table.append("\n");
    rows.forEach(row -> table.append("| ").append(String.join(" | ", row)).append(" |\n"));
    return table.toString();
  }
}
