package io.polyvisor.planner;

import static io.polyvisor.vm.Fixtures.kvmClass;
import static io.polyvisor.vm.Fixtures.node;
import static io.polyvisor.vm.Fixtures.vm;
import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.polyvisor.api.v1alpha1.DiskSpec;
import io.polyvisor.api.v1alpha1.EvictionStrategy;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.cluster.HypervisorNode;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class DrainPlannerTest {

  private static final Instant NOW = Instant.parse("2026-12-01T10:00:00Z");
  private static final double MIB = 1 << 20;

  private final HypervisorClass hvc = kvmClass(100);
  private final List<HypervisorNode> nodes =
      List.of(node("n1", "4Gi", true, false), node("n2", "4Gi", true, false), node("n3", "4Gi", true, false));
  private final List<VirtualMachine> vms = new ArrayList<>();
  private final List<VirtualMachineMigration> migrations = new ArrayList<>();

  private VirtualMachine running(String name, String memory) {
    VirtualMachine vm = vm(name, memory);
    DiskSpec disk = new DiskSpec();
    disk.name = "root";
    disk.size = "4Mi";
    disk.storageClassName = "local";
    vm.getSpec().disks = List.of(disk);
    vm.getStatus().nodeName = "n1";
    vm.getStatus().phase = VirtualMachinePhase.Running;
    vms.add(vm);
    return vm;
  }

  private DrainPlan plan(Throughput throughput) {
    return DrainPlanner.plan(new EvacuationSnapshot("n1", hvc, nodes, vms, migrations, NOW, NOW), false, throughput, sc -> false);
  }

  @Test
  void movesAreLaidOutOnTheParallelLanesAtTheMeasuredRate() {
    running("a", "28Mi");
    running("b", "60Mi");
    running("c", "28Mi");
    Throughput oneMiB = new Throughput(MIB, 3, "test");

    DrainPlan plan = plan(oneMiB);

    // Two lanes: a (32Mi with its disk) and b (64Mi) start at once; c takes a's lane when a ends.
    assertThat(plan.vms()).extracting(DrainPlan.VmMove::vm, DrainPlan.VmMove::action, DrainPlan.VmMove::target,
            DrainPlan.VmMove::startsAtSeconds, DrainPlan.VmMove::seconds)
        .containsExactly(
            org.assertj.core.groups.Tuple.tuple("ns/a", "Move", "n2", 0.0, 32.0),
            org.assertj.core.groups.Tuple.tuple("ns/b", "Move", "n3", 0.0, 64.0),
            org.assertj.core.groups.Tuple.tuple("ns/c", "Move", "n2", 32.0, 32.0));
    assertThat(plan.parallel()).isEqualTo(2);
    assertThat(plan.expectedSeconds()).isEqualTo(64.0);
    assertThat(plan.endsEmpty()).isTrue();
  }

  @Test
  void aVmThatCannotLeaveStaysWithWhyAndTheNodeWouldNotEndEmpty() {
    running("a", "28Mi").getSpec().evictionStrategy = EvictionStrategy.None;

    DrainPlan plan = plan(new Throughput(MIB, 1, "test"));

    assertThat(plan.vms()).singleElement().satisfies(m -> {
      assertThat(m.action()).isEqualTo("Stays");
      assertThat(m.why()).isEqualTo("evictionStrategy None");
    });
    assertThat(plan.endsEmpty()).isFalse();
    assertThat(plan.expectedSeconds()).isZero();
  }

  @Test
  void theClusterCapTakenByOtherNodesNarrowsTheLanes() {
    hvc.getSpec().migration = new io.polyvisor.api.v1alpha1.MigrationPolicy();
    hvc.getSpec().migration.parallelPerCluster = 2;
    VirtualMachine other = vm("other", "32Mi");
    other.getStatus().nodeName = "n2";
    vms.add(other);
    migrations.add(migration("other", MigrationPhase.Running, null, null, null));
    running("a", "28Mi");

    DrainPlan plan = plan(new Throughput(MIB, 1, "test"));

    assertThat(plan.parallel()).isEqualTo(1);
    assertThat(plan.parallelism()).isEqualTo("1 at once: parallelOutboundPerNode 2, parallelPerCluster 2 of which 1 taken by"
        + " migrations from other nodes");
  }

  @Test
  void throughputIsTheMedianOfTheNewestSuccessesCappedByTheClassBandwidth() {
    List<VirtualMachineMigration> done = List.of(
        migration("a", MigrationPhase.Succeeded, 10 * (long) MIB, NOW, NOW.plusSeconds(1)),
        migration("b", MigrationPhase.Succeeded, 20 * (long) MIB, NOW, NOW.plusSeconds(1)),
        migration("c", MigrationPhase.Succeeded, 90 * (long) MIB, NOW, NOW.plusSeconds(1)),
        migration("d", MigrationPhase.Failed, 1L, NOW, NOW.plusSeconds(100)),
        migration("e", MigrationPhase.Succeeded, 0L, NOW, NOW.plusSeconds(1)));
    done.get(2).getSpec().method = io.polyvisor.api.v1alpha1.MigrationMethod.Live;
    VirtualMachineMigration restart = migration("f", MigrationPhase.Succeeded, 1L, NOW, NOW.plusSeconds(100));
    restart.getSpec().method = io.polyvisor.api.v1alpha1.MigrationMethod.Restart;
    done = new ArrayList<>(done);
    done.add(restart);

    Throughput measured = Throughput.of("kvm", done, 0);
    assertThat(measured.mibPerSecond()).isEqualTo(20.0);
    assertThat(measured.basis()).isEqualTo("the median of the 3 newest successful migrations of class kvm (10.0 to 90.0 MiB/s)");
    assertThat(Throughput.of("kvm", done, 5).mibPerSecond()).isEqualTo(5.0);
    assertThat(Throughput.of("kvm", List.of(), 0).basis()).isEqualTo("no migration of class kvm measured yet: 100 MiB/s assumed");
    assertThat(Throughput.of("kvm", List.of(), 8).mibPerSecond()).isEqualTo(8.0);
  }

  private static VirtualMachineMigration migration(String vm, MigrationPhase phase, Long bytes, Instant start, Instant end) {
    VirtualMachineMigration m = new VirtualMachineMigration();
    m.setMetadata(new ObjectMetaBuilder().withName(vm + "-m").withNamespace("ns").build());
    m.getSpec().vmName = vm;
    m.getStatus().phase = phase;
    m.getStatus().sourceNode = "n2";
    m.getStatus().dataTotalBytes = bytes;
    m.getStatus().startTime = start == null ? null : start.toString();
    m.getStatus().completionTime = end == null ? null : end.toString();
    return m;
  }
}
