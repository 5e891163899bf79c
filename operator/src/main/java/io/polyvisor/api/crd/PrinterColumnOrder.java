package io.polyvisor.api.crd;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * A build step run right after fabric8's crd-generator: it puts each CRD's printer columns in the
 * order the {@link AdditionalPrinterColumn} annotations are declared. The generator sorts them by
 * JSON path, which would make {@code kubectl get} show AGE before PHASE; people read the columns
 * left to right, so the order is part of the API's design.
 *
 * <p>Usage: {@code PrinterColumnOrder <folder with the generated *-v1.yml>}.
 */
public final class PrinterColumnOrder {

  private static final List<Class<?>> KINDS =
      List.of(HypervisorClass.class, VirtualMachine.class, VirtualMachineMigration.class);

  private PrinterColumnOrder() {}

  public static void main(String[] args) throws IOException {
    if (args.length != 1) {
      throw new IllegalArgumentException("usage: PrinterColumnOrder <generated CRD folder>");
    }
    for (Class<?> kind : KINDS) {
      reorder(Path.of(args[0]), kind);
    }
  }

  private static void reorder(Path folder, Class<?> kind) throws IOException {
    List<String> declared =
        Arrays.stream(kind.getAnnotationsByType(AdditionalPrinterColumn.class))
            .map(AdditionalPrinterColumn::name)
            .toList();
    if (declared.isEmpty()) {
      return;
    }
    String plural = kind.getSimpleName().toLowerCase() + "s";
    Path file = folder.resolve(plural + ".polyvisor.io-v1.yml");
    String original = Files.readString(file);
    ObjectNode crd = Serialization.unmarshal(original, ObjectNode.class);
    for (var version : crd.withArray("/spec/versions")) {
      ArrayNode columns = (ArrayNode) version.get("additionalPrinterColumns");
      List<ObjectNode> sorted = new ArrayList<>();
      columns.forEach(c -> sorted.add((ObjectNode) c));
      sorted.sort(Comparator.comparingInt(c -> position(declared, c.get("name").asText())));
      columns.removeAll();
      sorted.forEach(columns::add);
    }
    // The tree keeps the generator's key order; only the header comment needs carrying over.
    String header = original.lines().findFirst().filter(l -> l.startsWith("#")).orElse("");
    String yaml = Serialization.asYaml(crd);
    Files.writeString(file, header.isEmpty() ? yaml : header + "\n" + yaml);
  }

  /** Columns from {@code @PrinterColumn} fields (not declared on the class) keep their place at the end. */
  private static int position(List<String> declared, String name) {
    int index = declared.indexOf(name);
    return index < 0 ? declared.size() : index;
  }
}
