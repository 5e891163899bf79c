package io.polyvisor.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.testing.RealApiServer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every sample manifest a user might copy is accepted by a real API server as it stands. */
class SamplesIT {

  private static final Path SAMPLES = Path.of(System.getProperty("polyvisor.repoRoot"), "crds", "samples");
  private static KubernetesClient client;

  @BeforeAll
  static void connect() {
    client = RealApiServer.client();
  }

  static Stream<String> samples() throws IOException {
    try (Stream<Path> files = Files.list(SAMPLES)) {
      List<String> names = files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".yaml")).sorted().toList();
      assertThat(names).as("samples in %s", SAMPLES).isNotEmpty();
      return names.stream();
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("samples")
  void sampleIsAccepted(String file) throws IOException {
    List<HasMetadata> objects;
    try (InputStream in = Files.newInputStream(SAMPLES.resolve(file))) {
      objects = client.load(in).items();
    }
    assertThat(objects).isNotEmpty();
    for (HasMetadata object : objects) {
      HasMetadata stored = client.resource(object).serverSideApply();
      assertThat(stored.getMetadata().getUid()).as("%s stored", file).isNotBlank();
    }
  }
}
