package io.polyvisor.planner;

import static org.assertj.core.api.Assertions.assertThat;

import io.polyvisor.driver.HostCpuModels;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class CpuModelsTest {

  @Test
  void aNodeGetsOneLabelPerModelAndLosesThoseItNoLongerOffersWhileItsOtherLabelsStay() {
    Map<String, String> current = Map.of("kubernetes.io/hostname", "n1", "cpu-model.polyvisor.io/Westmere", "true",
        "cpu-model.polyvisor.io/Nehalem", "true", "cpu-model.polyvisor.io/EPYC", "true");

    Map<String, String> expected = new HashMap<>();
    expected.put("cpu-model.polyvisor.io/EPYC", "host-model");
    expected.put("cpu-model.polyvisor.io/Conroe", "true");
    expected.put("cpu-model.polyvisor.io/Nehalem", null);
    assertThat(CpuModels.changes(current, new HostCpuModels(Set.of("Westmere", "Conroe"), Optional.of("EPYC")))).isEqualTo(expected);
    assertThat(CpuModels.changes(Map.of("cpu-model.polyvisor.io/EPYC", "true"), new HostCpuModels(Set.of("EPYC"), Optional.of("EPYC"))))
        .as("usable by name and host-model: usable, and nothing to write").isEmpty();
  }

  @Test
  void aModelWhoseNameNoLabelCanHoldIsLeftOut() {
    assertThat(CpuModels.labels(new HostCpuModels(Set.of("Opteron_G2", "486", "bad name", "-dash", "x".repeat(64)), Optional.of("a b"))))
        .containsOnlyKeys("cpu-model.polyvisor.io/Opteron_G2", "cpu-model.polyvisor.io/486");
  }
}
