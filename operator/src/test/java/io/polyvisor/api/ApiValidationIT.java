package io.polyvisor.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.polyvisor.testing.RealApiServer;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every rule of the schema, proved against a real kube-apiserver: a bad manifest is refused with
 * a message that names the field and the fix, and a good one (defaults filled in) is accepted.
 */
class ApiValidationIT {

  private static KubernetesClient client;
  private static String namespace;

  @BeforeAll
  static void connect() {
    client = RealApiServer.client();
    namespace = RealApiServer.newNamespace("validation");
  }

  static Stream<Arguments> badVirtualMachines() {
    return Stream.of(
        Arguments.of(
            "staticMemoryForbidsMinimum",
            """
            memory: {policy: Static, size: 1Gi, minimum: 512Mi}
            """,
            "spec.memory.minimum: Invalid value: \"object\": memory.minimum applies only to policy"
                + " Dynamic; remove it or set memory.policy: Dynamic"),
        Arguments.of(
            "staticMemoryForbidsMaximum",
            """
            memory: {size: 1Gi, maximum: 2Gi}
            """,
            "spec.memory.maximum: Invalid value: \"object\": memory.maximum applies only to policy"
                + " Dynamic; remove it or set memory.policy: Dynamic"),
        Arguments.of(
            "staticMemoryForbidsBufferPercent",
            """
            memory: {size: 1Gi, bufferPercent: 20}
            """,
            "spec.memory.bufferPercent: Invalid value: \"object\": memory.bufferPercent applies"
                + " only to policy Dynamic; remove it or set memory.policy: Dynamic"),
        Arguments.of(
            "staticMemoryForbidsPriority",
            """
            memory: {size: 1Gi, priority: 50}
            """,
            "spec.memory.priority: Invalid value: \"object\": memory.priority applies only to"
                + " policy Dynamic; remove it or set memory.policy: Dynamic"),
        Arguments.of(
            "dynamicMemoryNeedsMinimumAndMaximum",
            """
            memory: {policy: Dynamic, size: 1Gi, maximum: 2Gi}
            """,
            "spec.memory: Invalid value: \"object\": memory.policy Dynamic needs memory.minimum and"
                + " memory.maximum; add both"),
        Arguments.of(
            "dynamicMemoryBelowMinimumIsRejected",
            """
            memory: {policy: Dynamic, size: 256Mi, minimum: 512Mi, maximum: 2Gi}
            """,
            "spec.memory: Invalid value: \"object\": memory.policy Dynamic needs minimum <= size <="
                + " maximum; change memory.minimum, memory.size or memory.maximum"),
        Arguments.of(
            "dynamicMemoryAboveMaximumIsRejected",
            """
            memory: {policy: Dynamic, size: 4Gi, minimum: 512Mi, maximum: 2Gi}
            """,
            "memory.policy Dynamic needs minimum <= size <= maximum"),
        Arguments.of(
            "memoryBelow16MiIsRejected",
            """
            memory: {size: 8Mi}
            """,
            "spec.memory.size: Invalid value: \"string\": memory.size must be at least 16Mi"),
        Arguments.of(
            "memoryMinimumBelow16MiIsRejected",
            """
            memory: {policy: Dynamic, size: 1Gi, minimum: 1Mi, maximum: 2Gi}
            """,
            "spec.memory.minimum: Invalid value: \"string\": memory.minimum must be at least 16Mi"),
        Arguments.of(
            "memorySizeMustBeAQuantity",
            """
            memory: {size: lots}
            """,
            "spec.memory.size: Invalid value: \"string\": memory.size must be a quantity such as"
                + " 512Mi or 4Gi"),
        Arguments.of(
            "memorySizeIsRequired",
            """
            memory: {policy: Static}
            """,
            "spec.memory.size: Required value"),
        Arguments.of(
            "bufferPercentOutOfRangeIsRejected",
            """
            memory: {policy: Dynamic, size: 1Gi, minimum: 512Mi, maximum: 2Gi, bufferPercent: 3}
            """,
            "spec.memory.bufferPercent: Invalid value: 3: spec.memory.bufferPercent in body should"
                + " be greater than or equal to 5"),
        Arguments.of(
            "priorityOutOfRangeIsRejected",
            """
            memory: {policy: Dynamic, size: 1Gi, minimum: 512Mi, maximum: 2Gi, priority: 101}
            """,
            "spec.memory.priority: Invalid value: 101: spec.memory.priority in body should be less"
                + " than or equal to 100"),
        Arguments.of(
            "unknownMemoryPolicyIsRejected",
            """
            memory: {policy: Elastic, size: 1Gi}
            """,
            "spec.memory.policy: Unsupported value: \"Elastic\": supported values: \"Dynamic\","
                + " \"Static\""),
        Arguments.of(
            "tooManyCoresAreRejected",
            """
            memory: {size: 1Gi}
            cpu: {cores: 257}
            """,
            "spec.cpu.cores: Invalid value: 257: spec.cpu.cores in body should be less than or"
                + " equal to 256"),
        Arguments.of(
            "unknownRunStrategyIsRejected",
            """
            memory: {size: 1Gi}
            runStrategy: Sometimes
            """,
            "spec.runStrategy: Unsupported value: \"Sometimes\": supported values: \"Always\","
                + " \"Halted\", \"Manual\", \"RerunOnFailure\""),
        Arguments.of(
            "duplicateDiskNamesAreRejected",
            """
            memory: {size: 1Gi}
            disks:
            - {name: root, storageClassName: local, size: 1Gi}
            - {name: root, storageClassName: local, size: 2Gi}
            """,
            "spec.disks: Invalid value: \"array\": spec.disks[].name must be unique within the VM;"
                + " rename the duplicate disk"),
        Arguments.of(
            "diskNameMustBeADnsLabel",
            """
            memory: {size: 1Gi}
            disks:
            - {name: Root_Disk, storageClassName: local, size: 1Gi}
            """,
            "spec.disks[0].name: Invalid value: \"Root_Disk\": spec.disks[0].name in body should"
                + " match"),
        Arguments.of(
            "zeroDiskSizeIsRejected",
            """
            memory: {size: 1Gi}
            disks:
            - {name: root, storageClassName: local, size: "0"}
            """,
            "spec.disks[0].size: Invalid value: \"string\": disks[].size must be greater than zero"),
        Arguments.of(
            "diskSourceMustBeFileOrHttp",
            """
            memory: {size: 1Gi}
            disks:
            - {name: root, storageClassName: local, size: 1Gi, source: {url: "ftp://host/image"}}
            """,
            "spec.disks[0].source.url: Invalid value: \"ftp://host/image\""),
        Arguments.of(
            "duplicateNetworkNamesAreRejected",
            """
            memory: {size: 1Gi}
            networks:
            - {name: eth0, network: default}
            - {name: eth0, network: other}
            """,
            "spec.networks: Invalid value: \"array\": spec.networks[].name must be unique within"
                + " the VM; rename the duplicate network"),
        Arguments.of(
            "networkNameMustBeADnsLabel",
            """
            memory: {size: 1Gi}
            networks:
            - {name: "eth 0", network: default}
            """,
            "spec.networks[0].name: Invalid value: \"eth 0\""),
        Arguments.of(
            "unknownEvictionStrategyIsRejected",
            """
            memory: {size: 1Gi}
            evictionStrategy: Pray
            """,
            "spec.evictionStrategy: Unsupported value: \"Pray\""));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badVirtualMachines")
  void badVirtualMachineIsRefusedWithAnActionableMessage(String rule, String spec, String message) {
    String manifest = virtualMachine(rule.toLowerCase(), "hypervisorClassName: kvm\n" + spec);

    assertThatThrownBy(() -> client.resource(manifest).inNamespace(namespace).create())
        .isInstanceOf(KubernetesClientException.class)
        .satisfies(e -> assertThat(((KubernetesClientException) e).getStatus().getMessage()).contains(message));
  }

  @Test
  void virtualMachineWithoutClassIsRefused() {
    String manifest = virtualMachine("no-class", "memory: {size: 1Gi}\n");

    assertRefused(manifest, "spec.hypervisorClassName: Required value");
  }

  @Test
  void hypervisorClassNameIsImmutable() {
    HasMetadata created =
        client.resource(virtualMachine("immutable-class", "hypervisorClassName: kvm\nmemory: {size: 1Gi}\n"))
            .inNamespace(namespace)
            .create();

    GenericKubernetesResource changed = client.genericKubernetesResources("polyvisor.io/v1alpha1", "VirtualMachine")
        .inNamespace(namespace).withName(created.getMetadata().getName()).get();
    spec(changed).put("hypervisorClassName", "hyperv");

    assertThatThrownBy(() -> client.resource(changed).update())
        .isInstanceOf(KubernetesClientException.class)
        .satisfies(e -> assertThat(((KubernetesClientException) e).getStatus().getMessage())
            .contains("spec.hypervisorClassName: Invalid value: \"string\": spec.hypervisorClassName is"
                + " immutable; to move the VM to another class, create a new VirtualMachine"));
  }

  @Test
  void virtualMachineDefaultsAreFilledInByTheApiServer() {
    client.resource(virtualMachine("defaults", "hypervisorClassName: kvm\nmemory: {size: 1Gi}\n"))
        .inNamespace(namespace)
        .create();
    GenericKubernetesResource stored = client.genericKubernetesResources("polyvisor.io/v1alpha1", "VirtualMachine")
        .inNamespace(namespace).withName("defaults").get();

    Map<String, Object> spec = spec(stored);
    assertThat(spec).containsEntry("runStrategy", "Always");
    assertThat(spec.get("cpu")).isEqualTo(Map.of("cores", 1));
    assertThat(map(spec.get("memory"))).containsEntry("policy", "Static").containsEntry("numa", "None");
  }

  @Test
  void hypervisorClassDriverIsRequiredAndFromTheList() {
    assertRefused(
        hypervisorClass("no-driver", "nodeSelector: {a: b}\nconnection: {endpoint: 'qemu:///system'}\n"),
        "spec.driver: Required value");
    assertRefused(
        hypervisorClass("bad-driver", "driver: xen\nnodeSelector: {a: b}\nconnection: {endpoint: 'qemu:///system'}\n"),
        "spec.driver: Unsupported value: \"xen\": supported values: \"hyperv\", \"libvirt\"");
  }

  @Test
  void hypervisorClassNeedsANodeSelectorWithALabel() {
    assertRefused(
        hypervisorClass("empty-selector", "driver: libvirt\nnodeSelector: {}\nconnection: {endpoint: 'qemu:///system'}\n"),
        "spec.nodeSelector: Invalid value: 0: spec.nodeSelector in body should have at least 1 properties");
  }

  @Test
  void hypervisorClassOvercommitIsBounded() {
    assertRefused(
        hypervisorClass("overcommit", "driver: libvirt\nnodeSelector: {a: b}\nconnection: {endpoint: 'qemu:///system'}\nmemoryOvercommitPercent: 50\n"),
        "spec.memoryOvercommitPercent: Invalid value: 50: spec.memoryOvercommitPercent in body should be greater than or equal to 100");
  }

  @Test
  void hypervisorClassCpuFeaturesAreNamedOnceWithAPolicyLibvirtKnows() {
    assertRefused(
        hypervisorClass("twice", "driver: libvirt\nnodeSelector: {a: b}\nconnection: {endpoint: 'qemu:///system'}\n"
            + "cpuFeatures: [{name: pcid}, {name: pcid, policy: disable}]\n"),
        "spec.cpuFeatures names a feature twice; give each feature once, with one policy");
    assertRefused(
        hypervisorClass("bad-policy", "driver: libvirt\nnodeSelector: {a: b}\nconnection: {endpoint: 'qemu:///system'}\n"
            + "cpuFeatures: [{name: pcid, policy: off}]\n"),
        "spec.cpuFeatures[0].policy: Invalid value: \"off\"");
  }

  @Test
  void hypervisorClassRebalancingNeedsAWatermarkBelowItsThresholdAndCpuOvercommitIsBounded() {
    assertRefused(
        hypervisorClass("watermark", "driver: libvirt\nnodeSelector: {a: b}\nconnection: {endpoint: 'qemu:///system'}\n"
            + "rebalancing: {memoryThresholdPercent: 60, memoryWatermarkPercent: 70}\n"),
        "rebalancing.memoryWatermarkPercent must be below memoryThresholdPercent (the gap keeps moves from going back and forth);"
            + " lower the watermark or raise the threshold");
    // The default watermark (70) is above a threshold of 65: the defaults count.
    assertRefused(
        hypervisorClass("default-watermark", "driver: libvirt\nnodeSelector: {a: b}\nconnection: {endpoint: 'qemu:///system'}\n"
            + "rebalancing: {memoryThresholdPercent: 65}\n"),
        "rebalancing.memoryWatermarkPercent must be below memoryThresholdPercent");
    assertRefused(
        hypervisorClass("cpu-watermark", "driver: libvirt\nnodeSelector: {a: b}\nconnection: {endpoint: 'qemu:///system'}\n"
            + "rebalancing: {cpuThresholdPercent: 100, cpuWatermarkPercent: 100}\n"),
        "rebalancing.cpuWatermarkPercent must be below cpuThresholdPercent");
    assertRefused(
        hypervisorClass("cpu-ratio", "driver: libvirt\nnodeSelector: {a: b}\nconnection: {endpoint: 'qemu:///system'}\n"
            + "cpuOvercommitRatio: 0\n"),
        "spec.cpuOvercommitRatio: Invalid value: 0: spec.cpuOvercommitRatio in body should be greater than or equal to 1");
  }

  @Test
  void hypervisorClassEndpointMustBeAUrl() {
    assertRefused(
        hypervisorClass("endpoint", "driver: libvirt\nnodeSelector: {a: b}\nconnection: {endpoint: 'kvm-1'}\n"),
        "spec.connection.endpoint: Invalid value: \"kvm-1\"");
  }

  @Test
  void hypervisorClassDriverIsImmutableAndDefaultsAreFilledIn() {
    client.resource(hypervisorClass("immutable-driver", "driver: libvirt\nnodeSelector: {a: b}\nconnection: {endpoint: 'qemu:///system'}\n")).create();
    GenericKubernetesResource stored = client.genericKubernetesResources("polyvisor.io/v1alpha1", "HypervisorClass")
        .withName("immutable-driver").get();
    Map<String, Object> spec = spec(stored);
    assertThat(spec).containsEntry("memoryOvercommitPercent", 100).containsEntry("cpuOvercommitRatio", 8)
        .containsEntry("defaultEvictionStrategy", "LiveMigrate");
    assertThat(map(spec.get("migration")))
        .containsEntry("parallelPerCluster", 5)
        .containsEntry("parallelOutboundPerNode", 2)
        .containsEntry("bandwidthMiBps", 0)
        .containsEntry("completionTimeoutPerGiBSeconds", 150)
        .containsEntry("progressTimeoutSeconds", 150)
        .containsEntry("allowAutoConverge", false)
        .containsEntry("allowPostCopy", false);

    spec.put("driver", "hyperv");
    assertThatThrownBy(() -> client.resource(stored).update())
        .isInstanceOf(KubernetesClientException.class)
        .satisfies(e -> assertThat(((KubernetesClientException) e).getStatus().getMessage())
            .contains("spec.driver: Invalid value: \"string\": spec.driver is immutable; create a new"
                + " HypervisorClass for another driver"));
  }

  @Test
  void migrationNeedsAVmAndKeepsIt() {
    assertRefused(migration("no-vm", "reason: Manual\n"), "spec.vmName: Required value");
    assertRefused(migration("bad-reason", "vmName: web-1\nreason: Whim\n"),
        "spec.reason: Unsupported value: \"Whim\": supported values: \"Evacuation\", \"Manual\", \"Rebalance\"");

    client.resource(migration("keeps-vm", "vmName: web-1\n")).inNamespace(namespace).create();
    GenericKubernetesResource stored = client.genericKubernetesResources("polyvisor.io/v1alpha1", "VirtualMachineMigration")
        .inNamespace(namespace).withName("keeps-vm").get();
    assertThat(spec(stored)).containsEntry("reason", "Manual");

    spec(stored).put("vmName", "web-2");
    assertThatThrownBy(() -> client.resource(stored).update())
        .isInstanceOf(KubernetesClientException.class)
        .satisfies(e -> assertThat(((KubernetesClientException) e).getStatus().getMessage())
            .contains("spec.vmName: Invalid value: \"string\": spec.vmName is immutable; create a new"
                + " VirtualMachineMigration for another VM"));
  }

  private void assertRefused(String manifest, String message) {
    boolean clusterScoped = manifest.contains("kind: HypervisorClass\n");
    ThrowingCallable create =
        clusterScoped
            ? () -> client.resource(manifest).create()
            : () -> client.resource(manifest).inNamespace(namespace).create();
    assertThatThrownBy(create)
        .isInstanceOf(KubernetesClientException.class)
        .satisfies(e -> assertThat(((KubernetesClientException) e).getStatus().getMessage()).contains(message));
  }

  private static Map<String, Object> spec(GenericKubernetesResource resource) {
    return map(resource.getAdditionalProperties().get("spec"));
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> map(Object value) {
    return (Map<String, Object>) value;
  }

  private static String virtualMachine(String name, String spec) {
    return manifest("VirtualMachine", name, spec);
  }

  private static String hypervisorClass(String name, String spec) {
    return manifest("HypervisorClass", name, spec);
  }

  private static String migration(String name, String spec) {
    return manifest("VirtualMachineMigration", name, spec);
  }

  private static String manifest(String kind, String name, String spec) {
    return "apiVersion: polyvisor.io/v1alpha1\nkind: " + kind + "\nmetadata:\n  name: " + name
        + "\nspec:\n" + spec.indent(2);
  }
}
