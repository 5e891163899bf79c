package io.polyvisor.vm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.storage.StorageClassBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.api.v1alpha1.VirtualMachineStatus;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestMemoryStats;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.libvirt.LibvirtDriver;
import io.polyvisor.operator.OperatorSettings;
import io.polyvisor.operator.PolyvisorOperator;
import io.polyvisor.testing.CounterGuest;
import io.polyvisor.testing.KvmNodes;
import io.polyvisor.testing.LinuxGuest;
import io.polyvisor.testing.NodeRegistration;
import io.polyvisor.testing.RealApiServer;
import io.polyvisor.testing.TestManifests;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Connect;

/**
 * The VirtualMachine reconciler end to end: a real API server, the operator in this JVM, three
 * real libvirtd nodes and real QEMU guests. What a person would do with kubectl, checked against
 * what libvirt then holds.
 */
class VirtualMachineReconcilerIT {

  private static final String CLASS = "it-kvm";
  private static final String STORAGE = "it-local";
  private static final List<String> NODES = List.of("it-kvm-1", "it-kvm-2", "it-kvm-3");

  @TempDir static Path work;
  private static KubernetesClient client;
  private static KvmNodes nodes;
  private static Path image;
  private static PolyvisorOperator operator;
  private static LibvirtDriver libvirt;
  private static OperatorSettings settings;
  private String namespace;

  @BeforeAll
  static void startEverything() throws Exception {
    client = RealApiServer.client();
    nodes = KvmNodes.start(work.resolve("nodes"), NODES.toArray(String[]::new));
    for (Host host : nodes.hosts()) {
      NodeRegistration.register(host, "1Gi", CLASS);
    }
    image = CounterGuest.build(work);
    client.resource(TestManifests.hypervisorClass(CLASS, "libvirt", "qemu+tcp://{node.address}/system")).serverSideApply();
    client.resource(TestManifests.localStorageClass(STORAGE)).serverSideApply();
    settings = new OperatorSettings(Optional.of(work), Duration.ofSeconds(5), Duration.ofSeconds(60), Duration.ofSeconds(3),
        Duration.ofSeconds(20));
    operator = PolyvisorOperator.start(client, settings, null);
    libvirt = new LibvirtDriver();
  }

  @AfterAll
  static void stopEverything() {
    if (operator != null) {
      operator.close();
    }
    if (libvirt != null) {
      libvirt.close();
    }
    if (nodes != null) {
      nodes.close();
    }
  }

  @org.junit.jupiter.api.BeforeEach
  void namespace(TestInfo test) {
    namespace = RealApiServer.newNamespace("vm");
  }

  @AfterEach
  void uncordonAndDeleteVms() {
    for (String node : NODES) {
      setNode(node, false, "1Gi");
    }
    client.resources(VirtualMachine.class).inNamespace(namespace).delete();
    await().atMost(Duration.ofSeconds(60))
        .until(() -> client.resources(VirtualMachine.class).inNamespace(namespace).list().getItems().isEmpty());
  }

  @Test
  void appliedVmRunsOnANodeOfItsClassWithItsMemoryAndDisk() throws Exception {
    VirtualMachine vm = apply("web", "Always", "32Mi");

    VirtualMachine running = awaitPhase(vm, VirtualMachinePhase.Running);
    assertThat(NODES).contains(running.getStatus().nodeName);
    assertThat(condition(running, VirtualMachineStatus.READY).getStatus()).isEqualTo("True");
    assertThat(condition(running, VirtualMachineStatus.SCHEDULED).getStatus()).isEqualTo("True");
    assertThat(condition(running, VirtualMachineStatus.LIVE_MIGRATABLE).getStatus()).isEqualTo("True");
    assertThat(condition(running, VirtualMachineStatus.READY).getObservedGeneration()).isEqualTo(running.getMetadata().getGeneration());

    GuestInfo guest = libvirt.find(nodes.host(running.getStatus().nodeName), uid(running)).orElseThrow();
    assertThat(guest.state()).isEqualTo(GuestState.RUNNING);
    assertThat(guest.maximumMemoryBytes()).isEqualTo(32L << 20);
    assertThat(nodes.libDir(running.getStatus().nodeName).resolve("images/polyvisor"))
        .isDirectoryContaining(p -> p.getFileName().toString().startsWith(namespace + "_web_root-"));
    // The guest really runs: its serial console counts.
    Path console = work.resolve(namespace + "_web.log");
    await().atMost(Duration.ofSeconds(30)).until(() -> CounterGuest.readCount(console).size() > 5);
    assertThat(events(running)).extracting(Event::getReason).contains("Scheduled", "Defined", "Started");
  }

  @Test
  void cordonedAndFullNodesAreSkippedAndAPendingVmIsPlacedWhenRoomAppears() {
    setNode("it-kvm-1", true, "1Gi");
    setNode("it-kvm-2", false, "16Mi");
    VirtualMachine placed = awaitPhase(apply("fits", "Always", "32Mi"), VirtualMachinePhase.Running);
    assertThat(placed.getStatus().nodeName).isEqualTo("it-kvm-3");

    VirtualMachine big = apply("big", "Always", "2Gi");
    VirtualMachine pending = awaitPhase(big, VirtualMachinePhase.Pending);
    Condition scheduled = condition(pending, VirtualMachineStatus.SCHEDULED);
    assertThat(scheduled.getStatus()).isEqualTo("False");
    assertThat(scheduled.getReason()).isEqualTo("InsufficientMemory");
    assertThat(scheduled.getMessage())
        .isEqualTo("no it-kvm node has 2Gi of memory free: it-kvm-2 has 16Mi of 16Mi, it-kvm-3 has 992Mi of 1Gi");
    assertThat(events(pending)).extracting(Event::getReason).contains("InsufficientMemory");

    // No polling: growing a node wakes the Pending VM.
    setNode("it-kvm-2", false, "4Gi");
    assertThat(awaitPhase(big, VirtualMachinePhase.Running).getStatus().nodeName).isEqualTo("it-kvm-2");
  }

  @Test
  void aVmWithMoreCoresThanAnyNodeCanHoldStaysPendingWithTheNumbersAndNoGuestIsDefined() throws Exception {
    // Each node declares 2 CPUs; the class's default ratio lets it hold 16 vCPUs.
    VirtualMachine wide = create(vmManifest("wide", "Always", "32Mi") + "  cpu: {cores: 200}\n");
    VirtualMachine pending = awaitPhase(wide, VirtualMachinePhase.Pending);
    Condition scheduled = condition(pending, VirtualMachineStatus.SCHEDULED);
    assertThat(scheduled.getReason()).isEqualTo("InsufficientCpu");
    assertThat(scheduled.getMessage()).startsWith("no it-kvm node with the memory has 200 vCPUs free (spec.cpu.cores; 8 per host"
        + " CPU, the class's cpuOvercommitRatio): ").contains("of 16");
    for (Host host : nodes.hosts()) {
      assertThat(libvirt.find(host, uid(wide))).as("a guest on " + host.nodeName()).isEmpty();
    }

    // The same VM with cores a node can hold runs.
    client.resources(VirtualMachine.class).inNamespace(namespace).withName("wide")
        .edit(vm -> { vm.getSpec().cpu.cores = 2; return vm; });
    awaitPhase(wide, VirtualMachinePhase.Running);
  }

  @Test
  void deletedVmLeavesNothingInLibvirt() {
    VirtualMachine running = awaitPhase(apply("short-lived", "Always", "32Mi"), VirtualMachinePhase.Running);
    Host host = nodes.host(running.getStatus().nodeName);
    String uid = uid(running);

    client.resource(running).delete();

    await().atMost(Duration.ofSeconds(60)).until(() -> client.resource(running).get() == null);
    assertThat(libvirt.find(host, uid)).isEmpty();
    assertThat(nodes.libDir(host.nodeName()).resolve("images/polyvisor"))
        .isDirectoryNotContaining(p -> p.getFileName().toString().startsWith(namespace + "_short-lived_"));
  }

  @Test
  void guestKilledBehindTheOperatorsBackComesBackUnderAlwaysAndStaysDownUnderManual() throws Exception {
    VirtualMachine always = awaitPhase(apply("always", "Always", "32Mi"), VirtualMachinePhase.Running);
    VirtualMachine manual = awaitPhase(apply("manual", "Manual", "32Mi"), VirtualMachinePhase.Running);

    destroyBehindTheOperatorsBack(always);
    destroyBehindTheOperatorsBack(manual);

    await().atMost(Duration.ofSeconds(30)).until(
        () -> libvirt.find(nodes.host(always.getStatus().nodeName), uid(always)).map(GuestInfo::state).orElse(null) == GuestState.RUNNING);
    VirtualMachine stopped = awaitPhase(manual, VirtualMachinePhase.Stopped);
    assertThat(condition(stopped, VirtualMachineStatus.READY).getStatus()).isEqualTo("False");
    // Manual leaves power alone: a few seconds later the guest is still off.
    Thread.sleep(3000);
    assertThat(libvirt.find(nodes.host(manual.getStatus().nodeName), uid(manual))).map(GuestInfo::state).contains(GuestState.SHUT_OFF);
  }

  @Test
  void haltedVmIsShutDownThenForcedOffAfterTheGracePeriod() {
    VirtualMachine vm = awaitPhase(apply("halting", "Always", "32Mi"), VirtualMachinePhase.Running);

    client.resources(VirtualMachine.class).inNamespace(namespace).withName("halting")
        .edit(v -> { v.getSpec().runStrategy = io.polyvisor.api.v1alpha1.RunStrategy.Halted; return v; });

    // The counter guest ignores ACPI: after the 3 s grace period its power is cut.
    VirtualMachine stopped = awaitPhase(vm, VirtualMachinePhase.Stopped);
    assertThat(libvirt.find(nodes.host(stopped.getStatus().nodeName), uid(stopped))).map(GuestInfo::state).contains(GuestState.SHUT_OFF);
    assertThat(events(stopped)).extracting(Event::getReason).contains("Stopping", "ForcedOff");
  }

  @Test
  void changingCoresOfARunningVmRequiresARestart() {
    VirtualMachine vm = awaitPhase(apply("resized", "Always", "32Mi"), VirtualMachinePhase.Running);

    // A merge patch, as kubectl applies it: a read-modify-write would race the operator's status writes.
    client.resources(VirtualMachine.class).inNamespace(namespace).withName("resized").patch(
        io.fabric8.kubernetes.client.dsl.base.PatchContext.of(io.fabric8.kubernetes.client.dsl.base.PatchType.JSON_MERGE),
        "{\"spec\":{\"cpu\":{\"cores\":2}}}");

    await().atMost(Duration.ofSeconds(30)).until(
        () -> "True".equals(condition(get(vm), VirtualMachineStatus.RESTART_REQUIRED).getStatus()));
    assertThat(get(vm).getStatus().phase).isEqualTo(VirtualMachinePhase.Running);
  }

  @Test
  void operatorRestartAdoptsGuestsAndNeverDefinesASecondCopy() {
    VirtualMachine vm = awaitPhase(apply("survivor", "Always", "32Mi"), VirtualMachinePhase.Running);
    String node = vm.getStatus().nodeName;

    operator.close();
    operator = PolyvisorOperator.start(client, settings, null);

    // Give the new operator time to reconcile everything it finds.
    await().pollDelay(Duration.ofSeconds(5)).atMost(Duration.ofSeconds(30))
        .until(() -> get(vm).getStatus().phase == VirtualMachinePhase.Running);
    long copies = nodes.hosts().stream().filter(h -> libvirt.find(h, uid(vm)).isPresent()).count();
    assertThat(copies).isEqualTo(1);
    assertThat(get(vm).getStatus().nodeName).isEqualTo(node);
  }

  @Test
  void problemsOnlyTheOperatorCanSeeBecomeConditionsAndEvents() {
    VirtualMachine noClass = create(vmManifest("no-class", "Always", "32Mi").replace("hypervisorClassName: " + CLASS, "hypervisorClassName: nope"));
    Condition missing = condition(awaitPhase(noClass, VirtualMachinePhase.Pending), VirtualMachineStatus.SCHEDULED);
    assertThat(missing.getReason()).isEqualTo("HypervisorClassNotFound");
    assertThat(missing.getMessage()).isEqualTo("HypervisorClass nope does not exist; create it or fix spec.hypervisorClassName");

    client.resource(new StorageClassBuilder().withNewMetadata().withName("it-hyperv-share").endMetadata()
        .withProvisioner("hyperv.polyvisor.io").withParameters(Map.of("path", "\\\\server\\vms")).build()).serverSideApply();
    VirtualMachine wrongStorage = create(vmManifest("wrong-storage", "Always", "32Mi").replace("storageClassName: " + STORAGE, "storageClassName: it-hyperv-share"));
    Condition invalid = condition(awaitPhase(wrongStorage, VirtualMachinePhase.Pending), VirtualMachineStatus.SCHEDULED);
    assertThat(invalid.getReason()).isEqualTo("InvalidStorage");
    assertThat(invalid.getMessage()).contains("provisioner hyperv.polyvisor.io").contains("use a StorageClass with provisioner libvirt.polyvisor.io");
    assertThat(events(wrongStorage)).extracting(Event::getReason).contains("InvalidStorage");

    VirtualMachine badSource = create(vmManifest("bad-source", "Always", "32Mi").replace("file://" + image, "file:///nonexistent/image.img"));
    await().atMost(Duration.ofSeconds(30)).until(() -> {
      VirtualMachine current = get(badSource);
      return current.getStatus() != null && current.getStatus().phase == VirtualMachinePhase.Provisioning
          && "ProvisioningFailed".equals(condition(current, VirtualMachineStatus.READY).getReason());
    });
    assertThat(condition(get(badSource), VirtualMachineStatus.READY).getMessage()).contains("disk root").contains("/nonexistent/image.img");
  }

  @Test
  void dynamicMemoryFollowsTheGuestsDemandThroughTheBalloon() throws Exception {
    // A Linux guest booting from its disk, with a balloon driver that reports its memory, and
    // 32 MiB held by its init on top of its own use.
    Path disk = LinuxGuest.buildDisk(work.resolve("linux-balloon.img"), 32);
    VirtualMachine vm = create("""
        apiVersion: polyvisor.io/v1alpha1
        kind: VirtualMachine
        metadata:
          name: elastic
        spec:
          hypervisorClassName: %s
          memory: {policy: Dynamic, size: 192Mi, minimum: 64Mi, maximum: 192Mi, bufferPercent: 20}
          disks:
          - name: root
            storageClassName: %s
            size: 32Mi
            bootOrder: 1
            source: {url: "file://%s"}
        """.formatted(CLASS, STORAGE, disk));
    String node = awaitPhase(vm, VirtualMachinePhase.Running).getStatus().nodeName;
    Host host = nodes.host(node);
    assertThat(libvirt.find(host, uid(vm)).orElseThrow().currentMemoryBytes()).as("it starts at size").isEqualTo(192L << 20);

    // Booted, the guest reports a demand well under 192 MiB: the operator shrinks the balloon (by
    // more than the MiB or so the guest's own driver may take at boot) and then follows the demand,
    // which settles as the guest finishes booting, to within a balloon step of demand + 20%.
    await().atMost(Duration.ofSeconds(180)).pollInterval(Duration.ofSeconds(1)).untilAsserted(() -> {
      long current = libvirt.find(host, uid(vm)).orElseThrow().currentMemoryBytes();
      Optional<GuestMemoryStats> reported = libvirt.memoryStats(host, uid(vm));
      assertThat(reported).as("the guest's balloon driver reports").isPresent();
      GuestMemoryStats stats = reported.get();
      assertThat(stats.demandBytes()).as("the 32 MiB held and the guest's own use").isGreaterThan(32L << 20);
      assertThat(current).as("shrunk, within minimum and maximum").isBetween(64L << 20, 160L << 20);
      assertThat(current).as("at least the demand of %d bytes", stats.demandBytes()).isGreaterThanOrEqualTo(stats.demandBytes());
      assertThat(current).as("within a step of demand + 20%% (demand %d bytes)", stats.demandBytes())
          .isLessThanOrEqualTo(stats.demandBytes() * 120 / 100 + (9L << 20));
      // ... and the status reports the allocation the operator set, which the guest has reached.
      long assigned = Quantity.getAmountInBytes(get(vm).getStatus().memory.assigned).longValueExact();
      assertThat(Math.abs(assigned - current)).as("status %d bytes, libvirt %d bytes", assigned, current).isLessThan(2L << 20);
    });
  }

  @Test
  void aDeletedVmWhoseHostIsGoneForGoodIsReleasedWhenItsNodeIsDeleted() {
    KvmNodes doomed = KvmNodes.start(work.resolve("doomed"), "it-kvm-doomed");
    try {
      VirtualMachine vm = runningOnADyingHost(doomed, "on-doomed");

      await().atMost(Duration.ofSeconds(30)).until(() -> events(vm).stream().anyMatch(e -> "CleanupBlocked".equals(e.getReason())));
      assertThat(get(vm)).as("held while the host may come back").isNotNull();

      client.nodes().withName("it-kvm-doomed").delete();

      await().atMost(Duration.ofSeconds(60)).until(() -> get(vm) == null);
      assertHostGoneWarning(vm);
    } finally {
      doomed.close();
      client.nodes().withName("it-kvm-doomed").delete();
    }
  }

  @Test
  void aDeletedVmWhoseHostStaysUnreachableIsReleasedAfterTheHostGoneTimeout() {
    KvmNodes doomed = KvmNodes.start(work.resolve("unreachable"), "it-kvm-doomed");
    try {
      VirtualMachine vm = runningOnADyingHost(doomed, "on-unreachable");
      Instant deleted = Instant.now();

      await().atMost(Duration.ofSeconds(30)).until(() -> events(vm).stream().anyMatch(e -> "CleanupBlocked".equals(e.getReason())));
      assertThat(events(vm)).filteredOn(e -> "CleanupBlocked".equals(e.getReason())).first()
          .satisfies(e -> assertThat(e.getMessage()).contains("20 s after the VM's deletion (POLYVISOR_HOST_GONE_TIMEOUT_SECONDS)"));

      // The Node stays: only the timeout (20 s in these tests) lets the VM go.
      await().atMost(Duration.ofSeconds(60)).until(() -> get(vm) == null);
      assertThat(Duration.between(deleted, Instant.now())).isGreaterThanOrEqualTo(Duration.ofSeconds(20));
      assertThat(client.nodes().withName("it-kvm-doomed").get()).isNotNull();
      // Retried every few seconds meanwhile: said again, an Event is counted, not written again
      // (the first failure may read differently from the later ones).
      List<Event> blocked = events(vm).stream().filter(e -> "CleanupBlocked".equals(e.getReason())).toList();
      assertThat(blocked.stream().mapToInt(Event::getCount).sum()).isGreaterThan(blocked.size());
      assertHostGoneWarning(vm);
    } finally {
      doomed.close();
      client.nodes().withName("it-kvm-doomed").delete();
    }
  }

  /** A VM running on the only node of {@code doomed}; then the host dies for good and the VM is deleted. */
  private VirtualMachine runningOnADyingHost(KvmNodes doomed, String name) {
    NodeRegistration.register(doomed.host("it-kvm-doomed"), "1Gi", CLASS);
    NodeRegistration.label(client, "it-kvm-doomed", "doomed", "true");
    VirtualMachine vm = create(vmManifest(name, "Always", "32Mi")
        .replace("  memory: {size: 32Mi}", "  memory: {size: 32Mi}\n  nodeSelector: {doomed: \"true\"}"));
    assertThat(awaitPhase(vm, VirtualMachinePhase.Running).getStatus().nodeName).isEqualTo("it-kvm-doomed");
    doomed.close();
    client.resource(vm).delete();
    return vm;
  }

  private void assertHostGoneWarning(VirtualMachine vm) {
    assertThat(events(vm)).filteredOn(e -> "HostGone".equals(e.getReason())).singleElement()
        .satisfies(e -> assertThat(e.getMessage()).contains("it-kvm-doomed").contains("check that host"));
  }

  // --- helpers ---------------------------------------------------------------------------------

  private VirtualMachine apply(String name, String runStrategy, String memory) {
    return create(vmManifest(name, runStrategy, memory));
  }

  private VirtualMachine create(String manifest) {
    VirtualMachine vm = client.getKubernetesSerialization().unmarshal(manifest, VirtualMachine.class);
    return client.resource(vm).inNamespace(namespace).create();
  }

  private String vmManifest(String name, String runStrategy, String memory) {
    return TestManifests.counterVm(name, CLASS, runStrategy, memory, STORAGE, image);
  }

  private VirtualMachine awaitPhase(VirtualMachine vm, VirtualMachinePhase phase) {
    return await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(250))
        .until(() -> get(vm), v -> v != null && v.getStatus() != null && v.getStatus().phase == phase);
  }

  private VirtualMachine get(VirtualMachine vm) {
    return client.resources(VirtualMachine.class).inNamespace(namespace).withName(vm.getMetadata().getName()).get();
  }

  private static String uid(VirtualMachine vm) {
    return vm.getMetadata().getUid();
  }

  private static Condition condition(VirtualMachine vm, String type) {
    return Conditions.find(vm.getStatus().conditions, type).orElseThrow(() -> new AssertionError("no " + type + " condition"));
  }

  private List<Event> events(VirtualMachine vm) {
    return client.v1().events().inNamespace(namespace).list().getItems().stream()
        .filter(e -> vm.getMetadata().getName().equals(e.getInvolvedObject().getName()))
        .toList();
  }

  private static void setNode(String name, boolean cordoned, String memory) {
    NodeRegistration.cordon(client, name, cordoned);
    NodeRegistration.setAllocatableMemory(client, name, memory);
  }

  private void destroyBehindTheOperatorsBack(VirtualMachine vm) throws Exception {
    Connect connection = new Connect(nodes.host(vm.getStatus().nodeName).endpoint());
    try {
      connection.domainLookupByUUIDString(uid(vm)).destroy();
    } finally {
      connection.close();
    }
  }
}
