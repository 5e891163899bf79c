package io.polyvisor.vm;

import static io.polyvisor.vm.Fixtures.dynamicVm;
import static io.polyvisor.vm.Fixtures.vm;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.polyvisor.api.v1alpha1.Driver;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.RunStrategy;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.api.v1alpha1.VirtualMachineStatus;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.cluster.HypervisorNode;
import io.polyvisor.driver.Drivers;
import io.polyvisor.driver.GuestMemoryStats;
import io.polyvisor.driver.GuestState;
import io.polyvisor.lease.GuardedDriver;
import io.polyvisor.lease.LeaseGuard;
import io.polyvisor.operator.OperatorSettings;
import io.polyvisor.testing.FakeDriver;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The reconciler's decisions, against a hand-written fake hypervisor and cluster. */
class VirtualMachineReconcilerTest {

  private final FakeDriver driver = new FakeDriver();
  private final FakeCluster cluster = new FakeCluster();
  private final List<String> events = new ArrayList<>();
  private final VirtualMachineReconciler reconciler =
      new VirtualMachineReconciler(
          new Drivers(Map.of(Driver.LIBVIRT, driver)),
          OperatorSettings.from(Map.of()),
          Clock.fixed(Instant.parse("2026-11-28T00:00:00Z"), ZoneOffset.UTC),
          cluster,
          new EventRecorder(null) {
            @Override
            protected void emit(HasMetadata object, String type, String reason, String message) {
              events.add(reason);
            }
          });

  /** Reconciles and applies the status patch, as the API server would. */
  private UpdateControl<VirtualMachine> reconcile(VirtualMachine vm) {
    UpdateControl<VirtualMachine> control = reconciler.reconcile(vm, null);
    control.getResource().ifPresent(patched -> vm.setStatus(patched.getStatus()));
    return control;
  }

  @Test
  void aNewVmIsPlacedFirstAndDefinedOnlyOnTheNextPass() {
    VirtualMachine vm = vm("web", "1Gi");
    cluster.vms.add(vm);

    reconcile(vm);
    assertThat(vm.getStatus().nodeName).isIn("n1", "n2");
    assertThat(vm.getStatus().phase).isEqualTo(VirtualMachinePhase.Scheduled);
    assertThat(driver.calls).isEmpty();

    reconcile(vm);
    String node = vm.getStatus().nodeName;
    assertThat(driver.calls).containsExactly("define web on " + node, "start web on " + node);
    assertThat(vm.getStatus().phase).isEqualTo(VirtualMachinePhase.Running);
    assertThat(Conditions.isTrue(vm.getStatus().conditions, VirtualMachineStatus.READY)).isTrue();
    assertThat(events).containsExactly("Scheduled", "Defined", "Started");
  }

  @Test
  void statusIsWrittenOnlyWhenItChanges() {
    VirtualMachine vm = vm("web", "1Gi");
    cluster.vms.add(vm);
    reconcile(vm);
    reconcile(vm);
    var transition = vm.getStatus().conditions.get(0).getLastTransitionTime();

    UpdateControl<VirtualMachine> steady = reconcile(vm);

    assertThat(steady.isNoUpdate()).isTrue();
    assertThat(vm.getStatus().conditions.get(0).getLastTransitionTime()).isEqualTo(transition);
  }

  @Test
  void aGuestFoundOnAnotherNodeIsAdoptedNotDefinedTwice() {
    VirtualMachine vm = vm("web", "1Gi");
    cluster.vms.add(vm);
    reconcile(vm); // places it, say on n1, but the "crash" below loses that decision
    vm.getStatus().nodeName = null;
    driver.define(cluster.nodes.get(1).host(), GuestSpecs.build(vm, List.of(), Map.of(), Optional.empty()));
    driver.calls.clear();

    reconcile(vm);

    assertThat(vm.getStatus().nodeName).isEqualTo("n2");
    assertThat(driver.calls).containsExactly("start web on n2");
    assertThat(events).contains("Adopted");
  }

  @Test
  void runStrategiesDecideWhoRestartsAStoppedGuest() {
    VirtualMachine always = running(vm("always", "256Mi"));
    VirtualMachine manual = vm("manual", "256Mi");
    manual.getSpec().runStrategy = RunStrategy.Manual;
    running(manual);
    VirtualMachine rerun = vm("rerun", "256Mi");
    rerun.getSpec().runStrategy = RunStrategy.RerunOnFailure;
    running(rerun);
    VirtualMachine rerunCrashed = vm("rerun-crashed", "256Mi");
    rerunCrashed.getSpec().runStrategy = RunStrategy.RerunOnFailure;
    running(rerunCrashed);

    stopBehindTheBack(always, GuestState.SHUT_OFF);
    stopBehindTheBack(manual, GuestState.SHUT_OFF);
    stopBehindTheBack(rerun, GuestState.SHUT_OFF);
    stopBehindTheBack(rerunCrashed, GuestState.CRASHED);
    driver.calls.clear();
    for (VirtualMachine vm : List.of(always, manual, rerun, rerunCrashed)) {
      reconcile(vm);
    }

    assertThat(driver.calls).containsExactlyInAnyOrder(
        "start always on " + always.getStatus().nodeName, "start rerun-crashed on " + rerunCrashed.getStatus().nodeName);
    assertThat(manual.getStatus().phase).isEqualTo(VirtualMachinePhase.Stopped);
    assertThat(rerun.getStatus().phase).isEqualTo(VirtualMachinePhase.Stopped);
    assertThat(events).contains("Crashed");
  }

  @Test
  void dynamicMemoryFollowsTheGuestsDemandWithinItsBounds() {
    VirtualMachine vm = running(dynamicVm("db", "256Mi", "1Gi", "2Gi"));
    long current = 1L << 30;
    long demand = 300L << 20;
    driver.stats.put(vm.getMetadata().getUid(), new GuestMemoryStats(current, 2L << 30, (2L << 30) - demand - (1L << 30), 1L << 30));

    UpdateControl<VirtualMachine> control = reconcile(vm);

    assertThat(driver.calls).contains("setMemoryTarget db 360Mi");
    assertThat(vm.getStatus().memory.assigned.toString()).isEqualTo("360Mi");
    assertThat(control.getScheduleDelay()).hasValue(10_000L);
  }

  @Test
  void anUnknownClassLeavesTheVmPendingWithAnActionableReason() {
    cluster.hypervisorClass = null;
    VirtualMachine vm = vm("lost", "1Gi");

    UpdateControl<VirtualMachine> control = reconcile(vm);

    assertThat(vm.getStatus().phase).isEqualTo(VirtualMachinePhase.Pending);
    var scheduled = Conditions.find(vm.getStatus().conditions, VirtualMachineStatus.SCHEDULED).orElseThrow();
    assertThat(scheduled.getReason()).isEqualTo("HypervisorClassNotFound");
    assertThat(scheduled.getMessage()).isEqualTo("HypervisorClass kvm does not exist; create it or fix spec.hypervisorClassName");
    assertThat(control.getScheduleDelay()).as("woken by the class informer, not polled").isEmpty();
    assertThat(events).containsExactly("HypervisorClassNotFound");
    reconcile(vm);
    assertThat(events).as("one event per change, not per pass").containsExactly("HypervisorClassNotFound");
  }

  @Test
  void aVmBeingMigratedIsLeftToItsMigrationEvenWhenItsSourceCopyStops() {
    VirtualMachine vm = running(vm("moving", "256Mi"));
    VirtualMachineMigration migration = new VirtualMachineMigration();
    migration.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName("move-1").build());
    migration.getStatus().phase = io.polyvisor.api.v1alpha1.MigrationPhase.Running;
    migration.getStatus().targetNode = "n9";
    cluster.migrations.put("moving", migration);
    stopBehindTheBack(vm, GuestState.SHUT_OFF); // what the switch-over looks like on the source
    driver.calls.clear();

    reconcile(vm);

    assertThat(driver.calls).as("no restart of the source copy").isEmpty();
    assertThat(vm.getStatus().phase).isEqualTo(VirtualMachinePhase.Migrating);
    assertThat(vm.getStatus().migration.name).isEqualTo("move-1");
    assertThat(Conditions.isTrue(vm.getStatus().conditions, VirtualMachineStatus.MIGRATING)).isTrue();
  }

  @Test
  void aPausedGuestIsReportedPausedNotRunningAndLeftPaused() {
    VirtualMachine vm = running(vm("paused", "256Mi"));
    stopBehindTheBack(vm, GuestState.PAUSED);
    driver.calls.clear();

    reconcile(vm);

    assertThat(vm.getStatus().phase).isEqualTo(VirtualMachinePhase.Paused);
    var ready = Conditions.find(vm.getStatus().conditions, VirtualMachineStatus.READY).orElseThrow();
    assertThat(ready.getStatus()).isEqualTo("False");
    assertThat(ready.getMessage()).isEqualTo("the guest is paused on " + vm.getStatus().nodeName);
    assertThat(driver.calls).as("a paused copy may be half of a move: not resumed here").isEmpty();
  }

  @Test
  void aSavedGuestIsReportedAsNotRunningAndRunStrategyAlwaysStartsIt() {
    VirtualMachine vm = running(vm("saved", "256Mi"));
    stopBehindTheBack(vm, GuestState.SAVED);
    driver.calls.clear();

    reconcile(vm);

    assertThat(driver.calls).containsExactly("start saved on " + vm.getStatus().nodeName);
    assertThat(vm.getStatus().phase).isEqualTo(VirtualMachinePhase.Running);

    VirtualMachine manual = vm("saved-manual", "256Mi");
    manual.getSpec().runStrategy = RunStrategy.Manual;
    running(manual);
    stopBehindTheBack(manual, GuestState.SAVED);
    driver.calls.clear();
    reconcile(manual);
    assertThat(driver.calls).isEmpty();
    assertThat(manual.getStatus().phase).isEqualTo(VirtualMachinePhase.Paused);
    assertThat(Conditions.find(manual.getStatus().conditions, VirtualMachineStatus.READY).orElseThrow().getReason()).isEqualTo("Saved");
  }

  @Test
  void copiesOnTwoNodesAreTouchedOnNeither() {
    VirtualMachine vm = running(vm("twice", "256Mi"));
    String other = vm.getStatus().nodeName.equals("n1") ? "n2" : "n1";
    HypervisorNode otherNode = cluster.nodes.stream().filter(n -> n.name().equals(other)).findFirst().orElseThrow();
    driver.define(otherNode.host(), GuestSpecs.build(vm, List.of(), Map.of(), Optional.empty()));
    stopBehindTheBack(vm, GuestState.SHUT_OFF);
    driver.calls.clear();

    reconcile(vm);

    assertThat(driver.calls).as("neither copy started, stopped or removed").isEmpty();
    var ready = Conditions.find(vm.getStatus().conditions, VirtualMachineStatus.READY).orElseThrow();
    assertThat(ready.getStatus()).isEqualTo("Unknown");
    assertThat(ready.getReason()).isEqualTo("CopiesOnSeveralHosts");
    assertThat(events).contains("CopiesOnSeveralHosts");
  }

  @Test
  void aGuestGoneFromItsNodeIsNotDefinedAgainWhileTheTargetOfItsLastMoveCannotBeRead() {
    VirtualMachine vm = running(vm("unseen", "256Mi"));
    String recorded = vm.getStatus().nodeName;
    String other = recorded.equals("n1") ? "n2" : "n1";
    HypervisorNode recordedNode = cluster.nodes.stream().filter(n -> n.name().equals(recorded)).findFirst().orElseThrow();
    // It moved to the other node, and that move is over; the VM's status still names the source.
    cluster.migrations.put("unseen", finishedMove("move-1", recorded, other));
    driver.undefine(recordedNode.host(), vm.getMetadata().getUid());
    driver.unreachable.add(other);
    driver.calls.clear();

    reconcile(vm);

    assertThat(driver.calls).as("nothing defined or started").isEmpty();
    var ready = Conditions.find(vm.getStatus().conditions, VirtualMachineStatus.READY).orElseThrow();
    assertThat(ready.getStatus()).isEqualTo("Unknown");
    assertThat(ready.getMessage()).startsWith("cannot check " + other + " (").endsWith("nothing is defined or started on another host until it answers");

    driver.unreachable.clear();
    reconcile(vm);
    assertThat(driver.calls).containsExactly("define unseen on " + recorded, "start unseen on " + recorded);
  }

  @Test
  void aNodeThatCannotHoldTheGuestDoesNotHoldItUpWhenDown() {
    VirtualMachine vm = running(vm("unbothered", "256Mi"));
    String other = vm.getStatus().nodeName.equals("n1") ? "n2" : "n1";
    stopBehindTheBack(vm, GuestState.CRASHED);
    driver.unreachable.add(other); // never held the guest: no move of it went there
    driver.calls.clear();

    reconcile(vm);

    assertThat(driver.calls).containsExactly("start unbothered on " + vm.getStatus().nodeName);
  }

  @Test
  void aNodeDeclaredOutOfServiceThatStillAnswersIsBelievedOverTheTaint() {
    VirtualMachine vm = running(vm("believed", "256Mi"));
    String recorded = vm.getStatus().nodeName;
    cluster.nodes.replaceAll(n -> n.name().equals(recorded)
        ? new HypervisorNode(n.name(), false, n.cordoned(), true, n.labels(), n.allocatableMemoryBytes(), n.allocatableMillicpu(), n.host()) : n);
    driver.calls.clear();

    reconcile(vm);

    assertThat(driver.calls).as("the guest runs there: nothing is started elsewhere").isEmpty();
    assertThat(vm.getStatus().nodeName).isEqualTo(recorded);
    assertThat(vm.getStatus().abandonedNodes).isNull();
    assertThat(vm.getStatus().phase).isEqualTo(VirtualMachinePhase.Running);
  }

  @Test
  void aNodeDeclaredOutOfServiceThatDoesNotAnswerIsGivenUpAndTheGuestPlacedElsewhere() {
    VirtualMachine vm = running(vm("given-up", "256Mi"));
    String recorded = vm.getStatus().nodeName;
    String other = recorded.equals("n1") ? "n2" : "n1";
    driver.unreachable.add(recorded);
    reconcile(vm);
    assertThat(vm.getStatus().nodeName).as("not declared yet: it waits").isEqualTo(recorded);

    cluster.nodes.replaceAll(n -> n.name().equals(recorded)
        ? new HypervisorNode(n.name(), false, n.cordoned(), true, n.labels(), n.allocatableMemoryBytes(), n.allocatableMillicpu(), n.host()) : n);
    driver.calls.clear();
    reconcile(vm);
    assertThat(vm.getStatus().nodeName).isEqualTo(other);
    assertThat(vm.getStatus().abandonedNodes).containsExactly(recorded);
    assertThat(events).contains("HostDeclaredDown");
    assertThat(driver.calls).as("placed first; defined on the next pass").isEmpty();

    reconcile(vm);
    assertThat(driver.calls).containsExactly("define given-up on " + other, "start given-up on " + other);
  }

  @Test
  void aDeclaredNodeThatComesBackWithTheOnlyCopyKeepsItWhenNoOtherWasStarted() {
    VirtualMachine vm = running(vm("kept", "256Mi"));
    String recorded = vm.getStatus().nodeName;
    String other = recorded.equals("n1") ? "n2" : "n1";
    stopBehindTheBack(vm, GuestState.CRASHED); // the host went down with it
    driver.unreachable.add(recorded);
    // Declared down, with no other node ready to take the guest: it stays Pending.
    cluster.nodes.replaceAll(n -> n.name().equals(recorded)
        ? new HypervisorNode(n.name(), false, n.cordoned(), true, n.labels(), n.allocatableMemoryBytes(), n.allocatableMillicpu(), n.host())
        : Fixtures.node(other, "4Gi", false, false));
    reconcile(vm);
    assertThat(vm.getStatus().abandonedNodes).containsExactly(recorded);
    assertThat(vm.getStatus().phase).isEqualTo(VirtualMachinePhase.Pending);

    // It answers again, no longer declared, with the guest's only copy.
    driver.unreachable.clear();
    cluster.nodes.replaceAll(n -> n.name().equals(recorded) ? Fixtures.node(recorded, "4Gi", true, false) : n);
    driver.calls.clear();
    reconcile(vm);

    assertThat(driver.calls).as("started where it is, nothing removed").containsExactly("start kept on " + recorded);
    assertThat(vm.getStatus().abandonedNodes).isNull();
    assertThat(vm.getStatus().nodeName).isEqualTo(recorded);
  }

  @Test
  void aDeposedLeaderKeepsTheFinalizerOfAVmWhoseGuestItMayNoLongerRemove() {
    VirtualMachine vm = running(vm("kept-for-the-leader", "256Mi"));
    String node = vm.getStatus().nodeName;
    VirtualMachineReconciler deposed = deposedLeader();
    vm.getMetadata().setDeletionTimestamp("2026-11-28T00:00:00Z");
    events.clear();

    // Its Node is not in this process's cache (a stopping informer shows none): that is no proof
    // the host is gone, and a refusal for want of the Lease is no host trouble at all.
    assertThat(deposed.cleanup(vm, null).isRemoveFinalizer()).isFalse();

    assertThat(driver.guests.get(node)).containsKey(vm.getMetadata().getUid());
    assertThat(events).doesNotContain("HostGone");
  }

  @Test
  void aDeposedLeaderWhoseCacheNoLongerShowsTheVmsNodeKeepsItsFinalizer() {
    VirtualMachine vm = running(vm("node-missing-from-the-cache", "256Mi"));
    String node = vm.getStatus().nodeName;
    VirtualMachineReconciler deposed = deposedLeader();
    // Its informers stopping, this process sees no Node at all: no host to call, nothing refused.
    cluster.nodes.clear();
    vm.getStatus().hostEndpoint = null;
    vm.getMetadata().setDeletionTimestamp("2026-11-28T00:00:00Z");
    events.clear();
    driver.calls.clear();

    assertThat(deposed.cleanup(vm, null).isRemoveFinalizer()).isFalse();

    assertThat(driver.calls).isEmpty();
    assertThat(driver.guests.get(node)).containsKey(vm.getMetadata().getUid());
    assertThat(events).doesNotContain("HostGone", "Deleted");
  }

  /** A reconciler of a process that has lost the Lease: its hypervisor calls and its Lease reads are refused. */
  private VirtualMachineReconciler deposedLeader() {
    LeaseGuard lease = LeaseGuard.unguarded();
    lease.stop("lost the Lease");
    return new VirtualMachineReconciler(
        new Drivers(Map.of(Driver.LIBVIRT, new GuardedDriver(driver, lease))), OperatorSettings.from(Map.of()),
        Clock.fixed(Instant.parse("2026-11-28T00:00:10Z"), ZoneOffset.UTC), cluster, new EventRecorder(null) {
          @Override
          protected void emit(HasMetadata object, String type, String reason, String message) {
            events.add(reason);
          }
        }, lease);
  }

  private static VirtualMachineMigration finishedMove(String name, String source, String target) {
    VirtualMachineMigration migration = new VirtualMachineMigration();
    migration.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName(name)
        .withCreationTimestamp("2026-11-28T00:00:00Z").build());
    migration.getStatus().phase = io.polyvisor.api.v1alpha1.MigrationPhase.Succeeded;
    migration.getStatus().sourceNode = source;
    migration.getStatus().targetNode = target;
    return migration;
  }

  private VirtualMachine running(VirtualMachine vm) {
    cluster.vms.add(vm);
    reconcile(vm);
    reconcile(vm);
    assertThat(vm.getStatus().phase).isEqualTo(VirtualMachinePhase.Running);
    return vm;
  }

  private void stopBehindTheBack(VirtualMachine vm, GuestState state) {
    HypervisorNode node = cluster.nodes.stream().filter(n -> n.name().equals(vm.getStatus().nodeName)).findFirst().orElseThrow();
    driver.setState(node.host(), vm.getMetadata().getUid(), state);
  }
}
