package io.polyvisor.drain;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.operator.OperatorSettings;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The placeholder pod is one that kubectl drain evicts without --force and that stays on its node. */
class PlaceholderPodTest {

  private final VirtualMachine vm = vm("web", "ns", "0b6c2c0e-5d6e-4c52-9a57-2f1a0e1d3c4b");

  @Test
  void itIsBoundToTheNodeOwnedByTheVmAsItsControllerAndHeldByTheFinalizer() {
    Pod pod = PlaceholderPod.build(vm, "kvm-1", "registry.k8s.io/pause:3.10");

    assertThat(pod.getMetadata().getNamespace()).isEqualTo("ns");
    assertThat(pod.getMetadata().getGenerateName()).isEqualTo("web-guard-");
    assertThat(pod.getMetadata().getLabels())
        .containsEntry(PlaceholderPod.VM_UID_LABEL, "0b6c2c0e-5d6e-4c52-9a57-2f1a0e1d3c4b")
        .containsEntry(PlaceholderPod.ROLE_LABEL, PlaceholderPod.ROLE);
    assertThat(pod.getMetadata().getFinalizers()).containsExactly(PlaceholderPod.FINALIZER);
    assertThat(pod.getMetadata().getOwnerReferences()).singleElement().satisfies(owner -> {
      assertThat(owner.getApiVersion()).isEqualTo("polyvisor.io/v1alpha1");
      assertThat(owner.getKind()).isEqualTo("VirtualMachine");
      assertThat(owner.getName()).isEqualTo("web");
      assertThat(owner.getController()).isTrue();
    });
    assertThat(pod.getSpec().getNodeName()).isEqualTo("kvm-1");
    assertThat(pod.getSpec().getTolerations()).singleElement()
        .satisfies(t -> {
          assertThat(t.getOperator()).isEqualTo("Exists");
          assertThat(t.getKey()).isNull();
          assertThat(t.getEffect()).isNull();
        });
    assertThat(pod.getSpec().getAutomountServiceAccountToken()).isFalse();
    assertThat(pod.getSpec().getEnableServiceLinks()).isFalse();
    assertThat(pod.getSpec().getContainers()).singleElement()
        .satisfies(c -> assertThat(c.getImage()).isEqualTo("registry.k8s.io/pause:3.10"));
  }

  @Test
  void longVmNamesAreCutSoThatThePodNameFitsAHostname() {
    String name = "a".repeat(49) + "-" + "b".repeat(30);

    String prefix = PlaceholderPod.namePrefix(name);

    assertThat(prefix).isEqualTo("a".repeat(49) + "-guard-");
    assertThat(prefix.length() + 5).isLessThanOrEqualTo(63);
  }

  @Test
  void theImageComesFromTheEnvironmentAndDefaultsToPause() {
    assertThat(OperatorSettings.from(Map.of()).placeholderImage()).isEqualTo("registry.k8s.io/pause:3.10");
    assertThat(OperatorSettings.from(Map.of("POLYVISOR_PLACEHOLDER_IMAGE", " mirror.example/pause:3.10 ")).placeholderImage())
        .isEqualTo("mirror.example/pause:3.10");
  }

  private static VirtualMachine vm(String name, String namespace, String uid) {
    VirtualMachine vm = new VirtualMachine();
    vm.setMetadata(new ObjectMetaBuilder().withName(name).withNamespace(namespace).withUid(uid).build());
    return vm;
  }
}
