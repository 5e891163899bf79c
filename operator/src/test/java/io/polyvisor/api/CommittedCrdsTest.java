package io.polyvisor.api;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The CRD YAML committed in {@code crds/} and in the Helm chart is exactly what the Java API types
 * generate. A change to the types without {@code testbed/update-crds} fails the build here, so the
 * chart can never ship a schema that the operator's classes disagree with.
 */
class CommittedCrdsTest {

  private static final Path REPO = Path.of(System.getProperty("polyvisor.repoRoot"));
  private static final Path GENERATED = Path.of(System.getProperty("polyvisor.generatedCrds"));

  @ParameterizedTest
  @ValueSource(strings = {"crds", "helm/polyvisor/crds"})
  void committedCrdsMatchTheJavaTypes(String folder) throws IOException {
    List<Path> generated = yamlFiles(GENERATED);
    assertThat(generated).as("generated CRDs").hasSize(3);

    assertThat(yamlFiles(REPO.resolve(folder)).stream().map(Path::getFileName).map(Path::toString))
        .as("CRD files in %s (run testbed/update-crds)", folder)
        .containsExactlyElementsOf(generated.stream().map(Path::getFileName).map(Path::toString).toList());
    for (Path file : generated) {
      assertThat(Files.readString(REPO.resolve(folder).resolve(file.getFileName())))
          .as("%s/%s differs from what the API types generate; run testbed/update-crds", folder, file.getFileName())
          .isEqualTo(Files.readString(file));
    }
  }

  private static List<Path> yamlFiles(Path folder) throws IOException {
    try (Stream<Path> files = Files.list(folder)) {
      return files.filter(p -> p.toString().endsWith("-v1.yml")).sorted().toList();
    }
  }
}
