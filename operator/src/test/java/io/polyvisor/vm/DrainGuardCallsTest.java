package io.polyvisor.vm;

import static io.polyvisor.vm.Fixtures.vm;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.polyvisor.api.v1alpha1.Driver;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.RunStrategy;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.drain.DrainGuard;
import io.polyvisor.driver.Drivers;
import io.polyvisor.driver.GuestState;
import io.polyvisor.operator.OperatorSettings;
import io.polyvisor.testing.FakeDriver;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What the VM reconciler tells the drain guard: where the guest runs, as the hypervisor says. */
class DrainGuardCallsTest {

  private final FakeDriver driver = new FakeDriver();
  private final FakeCluster cluster = new FakeCluster();
  private final List<String> told = new ArrayList<>();
  private final VirtualMachineReconciler reconciler =
      new VirtualMachineReconciler(
          new Drivers(Map.of(Driver.LIBVIRT, driver)),
          OperatorSettings.from(Map.of()),
          Clock.fixed(Instant.parse("2026-11-28T00:00:00Z"), ZoneOffset.UTC),
          cluster,
          new EventRecorder(null) {
            @Override
            protected void emit(HasMetadata object, String type, String reason, String message) {}
          },
          new DrainGuard() {
            public boolean guardOn(VirtualMachine vm, String node) {
              told.add("guard " + vm.getMetadata().getName() + " on " + node);
              return vm.getStatus() != null && node.equals(vm.getStatus().nodeName);
            }

            public void releaseAll(VirtualMachine vm) {
              told.add("release " + vm.getMetadata().getName());
            }
          });

  @Test
  void aRunningGuestIsGuardedOnItsNodeOnceDefinedNotWhenOnlyPlaced() {
    VirtualMachine vm = vm("web", "1Gi");
    cluster.vms.add(vm);

    reconcile(vm);
    assertThat(told).as("placed, not defined yet").containsExactly("release web");

    reconcile(vm);
    assertThat(told).containsExactly("release web", "guard web on " + vm.getStatus().nodeName);
  }

  @Test
  void aGuestFoundOnAnotherNodeIsGuardedThereAndAgainOnceItsStatusSaysSo() {
    VirtualMachine vm = running("web");
    String other = vm.getStatus().nodeName.equals("n1") ? "n2" : "n1";
    moveBehindTheBack(vm, other);
    told.clear();

    UpdateControl<VirtualMachine> first = reconciler.reconcile(vm, null);
    first.getResource().ifPresent(patched -> vm.setStatus(patched.getStatus()));

    assertThat(vm.getStatus().nodeName).isEqualTo(other);
    assertThat(told).containsExactly("guard web on " + other);
    assertThat(first.getScheduleDelay()).as("another pass to release the old node's placeholder").isPresent();

    reconcile(vm);
    assertThat(told).containsExactly("guard web on " + other, "guard web on " + other);
  }

  @Test
  void whileAMigrationRunsThePlaceholderIsLeftAlone() {
    VirtualMachine vm = running("moving");
    VirtualMachineMigration migration = new VirtualMachineMigration();
    migration.setMetadata(new ObjectMetaBuilder().withName("move-1").build());
    migration.getStatus().phase = MigrationPhase.Running;
    cluster.migrations.put("moving", migration);
    told.clear();

    reconcile(vm);

    assertThat(told).isEmpty();
  }

  @Test
  void aGuestThatIsOffHoldsNoPlaceholder() {
    VirtualMachine vm = running("web");
    vm.getSpec().runStrategy = RunStrategy.Manual;
    driver.setState(host(vm), vm.getMetadata().getUid(), GuestState.SHUT_OFF);
    told.clear();

    reconcile(vm);

    assertThat(told).containsExactly("release web");
  }

  @Test
  void aHaltedGuestStillShuttingDownKeepsItsPlaceholder() {
    VirtualMachine vm = running("web");
    vm.getSpec().runStrategy = RunStrategy.Halted;
    told.clear();

    reconcile(vm);

    assertThat(told).containsExactly("guard web on " + vm.getStatus().nodeName);
  }

  @Test
  void aDeletedVmReleasesItsPlaceholdersOnceTheGuestIsGone() {
    VirtualMachine vm = running("web");
    vm.getMetadata().setDeletionTimestamp("2026-11-28T00:00:00Z");
    told.clear();

    assertThat(reconciler.cleanup(vm, null).isRemoveFinalizer()).isTrue();

    assertThat(driver.find(host(vm), vm.getMetadata().getUid())).isEmpty();
    assertThat(told).containsExactly("release web");
  }

  private void reconcile(VirtualMachine vm) {
    reconciler.reconcile(vm, null).getResource().ifPresent(patched -> vm.setStatus(patched.getStatus()));
  }

  private VirtualMachine running(String name) {
    VirtualMachine vm = vm(name, "256Mi");
    cluster.vms.add(vm);
    reconcile(vm);
    reconcile(vm);
    return vm;
  }

  private io.polyvisor.driver.Host host(VirtualMachine vm) {
    return cluster.nodes.stream().filter(n -> n.name().equals(vm.getStatus().nodeName)).findFirst().orElseThrow().host();
  }

  /** What a finished migration leaves: the guest on the other node, status still naming the old one. */
  private void moveBehindTheBack(VirtualMachine vm, String to) {
    String uid = vm.getMetadata().getUid();
    var guest = driver.find(host(vm), uid).orElseThrow();
    driver.guests.get(host(vm).nodeName()).remove(uid);
    driver.guests.computeIfAbsent(to, n -> new HashMap<>()).put(uid, guest);
  }
}
