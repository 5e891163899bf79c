package io.polyvisor.planner;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class CpuModelsTest {

  @Test
  void aNodeGetsOneLabelPerModelAndLosesThoseItNoLongerOffersWhileItsOtherLabelsStay() {
    Map<String, String> current = Map.of("kubernetes.io/hostname", "n1", "cpu-model.polyvisor.io/Westmere", "true",
        "cpu-model.polyvisor.io/Nehalem", "true");

    Map<String, String> expected = new HashMap<>();
    expected.put("cpu-model.polyvisor.io/EPYC", "true");
    expected.put("cpu-model.polyvisor.io/Nehalem", null);
    assertThat(CpuModels.changes(current, Set.of("Westmere", "EPYC"))).isEqualTo(expected);
    assertThat(CpuModels.changes(Map.of("cpu-model.polyvisor.io/EPYC", "true"), Set.of("EPYC"))).as("nothing to write").isEmpty();
  }

  @Test
  void aModelWhoseNameNoLabelCanHoldIsLeftOut() {
    assertThat(CpuModels.labels(Set.of("Opteron_G2", "486", "bad name", "-dash", "x".repeat(64))))
        .containsOnlyKeys("cpu-model.polyvisor.io/Opteron_G2", "cpu-model.polyvisor.io/486");
  }
}
