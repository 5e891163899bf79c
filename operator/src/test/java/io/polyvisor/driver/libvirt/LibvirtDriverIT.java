package io.polyvisor.driver.libvirt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.polyvisor.api.v1alpha1.NumaPlacement;
import io.polyvisor.driver.GuestEvent;
import io.polyvisor.driver.GuestId;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestMemoryStats;
import io.polyvisor.driver.GuestNotFoundException;
import io.polyvisor.driver.HostUnreachableException;
import io.polyvisor.driver.GuestSpec;
import io.polyvisor.driver.GuestSpec.GuestDisk;
import io.polyvisor.driver.GuestSpec.GuestMemory;
import io.polyvisor.driver.GuestSpec.KernelBoot;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HostCapacity;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.driver.MigrationJob;
import io.polyvisor.driver.MigrationOptions;
import io.polyvisor.driver.MigrationProgress;
import io.polyvisor.driver.MigrationResult;
import io.polyvisor.driver.StoragePoolSpec;
import io.polyvisor.driver.Volume;
import io.polyvisor.driver.VolumeSpec;
import io.polyvisor.testing.CounterGuest;
import io.polyvisor.testing.KvmNodes;
import io.polyvisor.testing.Virsh;
import io.polyvisor.testing.LinuxGuest;
import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.libvirt.Connect;

/**
 * The libvirt driver against real libvirtd daemons running real QEMU guests (software
 * emulation): two simulated hosts, each an isolated libvirtd, and a tiny guest built from source
 * whose serial output proves it kept running across a live migration.
 */
class LibvirtDriverIT {

  private static final StoragePoolSpec LOCAL_POOL =
      new StoragePoolSpec("polyvisor-local", "dir", "/var/lib/libvirt/images/polyvisor", Optional.empty(),
          Optional.empty(), "qcow2", false);
  private static final long GUEST_MEMORY = 32L << 20;

  @TempDir static Path work;
  private static KvmNodes nodes;
  private static LibvirtDriver driver;
  private static Path image;
  private static Host a;
  private static Host b;
  private static final List<GuestEvent> events = new CopyOnWriteArrayList<>();

  @BeforeAll
  static void startHosts() throws Exception {
    nodes = KvmNodes.start(work.resolve("nodes"), "kvm-a", "kvm-b");
    a = nodes.host("kvm-a");
    b = nodes.host("kvm-b");
    image = CounterGuest.build(work);
    driver = new LibvirtDriver();
    driver.addEventListener(events::add);
  }

  @AfterAll
  static void stopHosts() {
    if (driver != null) {
      driver.close();
    }
    if (nodes != null) {
      nodes.close();
    }
  }

  /**
   * A libvirtd that stops answering (SIGSTOP: its socket stays open, nothing comes back) costs its
   * callers the call timeout and nothing more, and costs another host nothing.
   */
  @Test
  void aStoppedLibvirtdFailsItsCallersWithinTheTimeoutWhileTheOtherHostAnswersAndIsCalledAgainOnceItResumes() {
    Duration timeout = Duration.ofSeconds(2);
    Duration margin = Duration.ofSeconds(3); // generous: the machine that runs the tests is shared
    String uid = UUID.randomUUID().toString();
    try (LibvirtDriver impatient = new LibvirtDriver(timeout)) {
      assertThat(impatient.find(a, uid)).as("connected and answering").isEmpty();
      assertThat(impatient.find(b, uid)).isEmpty();

      nodes.pauseDaemon("kvm-a");
      try {
        Instant started = Instant.now();
        assertThatThrownBy(() -> impatient.find(a, uid))
            .isInstanceOfSatisfying(HostUnreachableException.class, e -> assertThat(e.code()).isEqualTo("HOST_HUNG"))
            .hasMessage("libvirtd on " + a + " has not answered 'look up guest " + uid + "' for 2 s");
        assertThat(Duration.between(started, Instant.now())).isBetween(timeout, timeout.plus(margin));

        started = Instant.now();
        assertThatThrownBy(() -> impatient.list(a))
            .isInstanceOfSatisfying(HostUnreachableException.class, e -> assertThat(e.code()).isEqualTo("HOST_HUNG"))
            .hasMessageContaining("has not answered 'look up guest " + uid + "'")
            .hasMessageEndingWith("; 'list guests' is not sent until it does");
        assertThat(impatient.find(b, uid)).isEmpty();
        assertThat(impatient.capacity(b).cpus()).isPositive();
        assertThat(Duration.between(started, Instant.now())).as("at once, not after a timeout").isLessThan(timeout);
      } finally {
        nodes.resumeDaemon("kvm-a");
      }

      await().atMost(timeout.plus(margin)).untilAsserted(() -> assertThat(impatient.find(a, uid)).isEmpty());
      assertThat(impatient.capacity(a).cpus()).isPositive();
    }
  }

  @Test
  void capacityIsTheHostsMemoryAndCpus() {
    HostCapacity capacity = driver.capacity(a);
    assertThat(capacity.totalMemoryBytes()).isGreaterThan(256L << 20);
    assertThat(capacity.freeMemoryBytes()).isPositive().isLessThanOrEqualTo(capacity.totalMemoryBytes());
    assertThat(capacity.cpus()).isPositive();
  }

  @Test
  void guestIsDefinedStartedObservedStoppedAndUndefined() throws Exception {
    GuestId id = newId("lifecycle");
    Volume root = driver.createVolume(a, new VolumeSpec(LOCAL_POOL, "lifecycle-root", 4L << 20, Optional.of(image.toUri())));
    Path onHost = nodes.libDir("kvm-a").resolve("images/polyvisor/lifecycle-root");
    assertThat(onHost).exists();
    assertThat(root.capacityBytes()).isEqualTo(4L << 20);

    assertThat(driver.define(a, spec(id, root, Optional.empty())).state()).isEqualTo(GuestState.SHUT_OFF);
    driver.start(a, id.uid());
    assertThat(driver.find(a, id.uid())).map(GuestInfo::state).contains(GuestState.RUNNING);
    await().atMost(Duration.ofSeconds(10))
        .until(() -> events.stream().anyMatch(e -> e.uid().equals(id.uid()) && e.type() == GuestEvent.Type.STARTED));
    assertThat(driver.list(a)).extracting(GuestInfo::id).contains(id);

    // The counter guest has no ACPI handling: a graceful shutdown times out and reports so.
    assertThat(driver.shutdown(a, id.uid(), Duration.ofSeconds(2))).isFalse();
    assertThat(driver.find(a, id.uid())).map(GuestInfo::state).contains(GuestState.RUNNING);

    driver.forceStop(a, id.uid());
    assertThat(driver.find(a, id.uid())).map(GuestInfo::state).contains(GuestState.SHUT_OFF);
    driver.undefine(a, id.uid());
    assertThat(driver.find(a, id.uid())).isEmpty();

    driver.deleteVolume(a, LOCAL_POOL, "lifecycle-root");
    assertThat(onHost).doesNotExist();
    driver.deleteVolume(a, LOCAL_POOL, "lifecycle-root"); // idempotent
  }

  @Test
  void libvirtErrorsBecomeTypedExceptionsNamingTheHostAndTheGuest() {
    GuestId id = newId("broken");
    GuestSpec missingDisk = new GuestSpec(id, 1, GuestMemory.fixed(GUEST_MEMORY), NumaPlacement.None,
        List.of(new GuestDisk("root", "/nonexistent/" + id.uid() + ".img", "raw", Optional.of(1))), List.of(), Optional.empty());
    driver.define(a, missingDisk);
    try {
      assertThatThrownBy(() -> driver.start(a, id.uid()))
          .isInstanceOf(HypervisorException.class)
          .hasMessageContaining("kvm-a")
          .hasMessageContaining(id.uid())
          .satisfies(e -> assertThat(((HypervisorException) e).code()).startsWith("VIR_ERR_"));
      assertThatThrownBy(() -> driver.start(a, UUID.randomUUID().toString()))
          .isInstanceOf(GuestNotFoundException.class)
          .hasMessageContaining("kvm-a");
      Host nowhere = new Host("kvm-gone", "qemu+tcp://127.0.0.1:1/system");
      assertThatThrownBy(() -> driver.capacity(nowhere))
          .isInstanceOf(HostUnreachableException.class)
          .hasMessageContaining("kvm-gone");
    } finally {
      driver.undefine(a, id.uid());
    }
  }

  /**
   * A pool in which a volume is being built (a clone, an incoming migration's disk) refuses to be
   * refreshed: looking for another volume there meanwhile finds it, instead of failing the
   * reconcile of a guest that has nothing to do with the build.
   */
  @Test
  void aVolumeIsFoundWhileAnotherIsBeingBuiltInTheSamePool() throws Exception {
    VolumeSpec existing = new VolumeSpec(LOCAL_POOL, "busy-existing", 4L << 20, Optional.empty());
    Path existingPath = Path.of(driver.createVolume(a, existing).path());
    // Data, not holes: converting it into the qcow2 pool takes seconds, while the pool is busy.
    Path source = work.resolve("busy-source.raw");
    long size = 768L << 20;
    try (var out = Files.newOutputStream(source)) {
      java.util.Random random = new java.util.Random(1);
      byte[] chunk = new byte[1 << 20];
      for (long written = 0; written < size; written += chunk.length) {
        random.nextBytes(chunk);
        out.write(chunk);
      }
    }
    CompletableFuture<Volume> clone = CompletableFuture.supplyAsync(
        () -> driver.createVolume(a, new VolumeSpec(LOCAL_POOL, "busy-clone", size, Optional.of(source.toUri()))));
    int seenBusy = 0;
    int seenBuilding = 0;
    LibvirtDriver successor = new LibvirtDriver();
    Connect connection = new Connect(a.endpoint());
    try {
      org.libvirt.StoragePool pool = connection.storagePoolLookupByName(LOCAL_POOL.name());
      while (!clone.isDone()) {
        try {
          pool.refresh(0);
        } catch (org.libvirt.LibvirtException busy) {
          assertThat(busy.getMessage()).contains("has asynchronous jobs running");
          seenBusy++;
          // The clone itself is listed while it is built. An operator started after the one that
          // began it (another driver, its own connection) is refused it until it is whole, instead
          // of booting a guest from half a disk.
          try {
            Volume early = successor.createVolume(a, new VolumeSpec(LOCAL_POOL, "busy-clone", size, Optional.of(source.toUri())));
            assertThat(clone.isDone()).as("the clone was handed out before it was whole: " + early.path()).isTrue();
          } catch (HypervisorException building) {
            assertThat(building.getMessage()).contains("is still being built");
            seenBuilding++;
          }
          assertThat(Path.of(successor.createVolume(a, existing).path())).isEqualTo(existingPath);
          assertThat(successor.createVolume(a, existing).capacityBytes()).isEqualTo(4L << 20);
        }
        Thread.sleep(20);
      }
      assertThat(clone.get().capacityBytes()).isEqualTo(size);
      assertThat(seenBusy).as("times the pool was seen building the clone").isPositive();
      assertThat(seenBuilding).as("times the clone was refused while built").isPositive();
    } finally {
      connection.close();
      successor.close();
      clone.handle((v, e) -> null).get();
      driver.deleteVolume(a, LOCAL_POOL, "busy-clone");
      driver.deleteVolume(a, LOCAL_POOL, "busy-existing");
      Files.deleteIfExists(source);
    }
  }

  @Test
  void volumeIsStreamedFromAnHttpSource() throws Exception {
    byte[] content = Files.readAllBytes(image);
    HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/counter.img", exchange -> {
      exchange.sendResponseHeaders(200, content.length);
      exchange.getResponseBody().write(content);
      exchange.close();
    });
    server.start();
    try {
      URI url = URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/counter.img");
      Volume volume = driver.createVolume(a, new VolumeSpec(LOCAL_POOL, "uploaded", 8L << 20, Optional.of(url)));

      Path onHost = nodes.libDir("kvm-a").resolve("images/polyvisor/uploaded");
      assertThat(volume.format()).isEqualTo("raw");
      assertThat(volume.capacityBytes()).isEqualTo(8L << 20);
      byte[] written = Files.readAllBytes(onHost);
      assertThat(java.util.Arrays.copyOf(written, content.length)).isEqualTo(content);
    } finally {
      server.stop(0);
      driver.deleteVolume(a, LOCAL_POOL, "uploaded");
    }
  }

  @Test
  void domainsTheOperatorDidNotCreateAreLeftAlone() throws Exception {
    String uid = UUID.randomUUID().toString();
    try (var foreign = new ForeignDomain(a, uid)) {
      assertThat(driver.find(a, uid)).isEmpty();
      assertThat(driver.list(a)).extracting(g -> g.id().uid()).doesNotContain(uid);
      driver.forceStop(a, uid);
      driver.undefine(a, uid);
      assertThat(foreign.stillDefined()).isTrue();
      assertThatThrownBy(() -> driver.define(a, spec(new GuestId("ns", "takeover", uid), null, Optional.empty())))
          .isInstanceOf(HypervisorException.class)
          .hasMessageContaining("was not created by Polyvisor");
    }
  }

  @Test
  void memoryTargetChangeIsSeenByLibvirtAndTheGuestReportsItsDemand() throws Exception {
    GuestId id = newId("balloon");
    KernelBoot linux = LinuxGuest.build(work.resolve("linux"), 32);
    GuestSpec dynamic = new GuestSpec(id, 1, new GuestMemory(192L << 20, 192L << 20, 96L << 20, true),
        NumaPlacement.None, List.of(), List.of(), Optional.of(work.resolve("balloon-serial.log")), Optional.of(linux));
    driver.define(a, dynamic);
    driver.start(a, id.uid());
    try {
      // The guest's init counts on its serial port once it holds its 32 MiB (about 10 s under
      // emulation); its balloon driver reports from boot on.
      await().atMost(Duration.ofSeconds(90)).until(() -> CounterGuest.readCount(work.resolve("balloon-serial.log")).size() >= 3);
      GuestMemoryStats before = await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofSeconds(1))
          .until(() -> driver.memoryStats(a, id.uid()), Optional::isPresent).orElseThrow();
      assertThat(before.demandBytes()).as("32 MiB held plus the guest's own use").isBetween(32L << 20, 160L << 20);

      driver.setMemoryTarget(a, id.uid(), 144L << 20);

      await().atMost(Duration.ofSeconds(30))
          .untilAsserted(() -> assertThat(driver.find(a, id.uid()).orElseThrow().currentMemoryBytes()).isEqualTo(144L << 20));
      assertThat(driver.find(a, id.uid()).orElseThrow().maximumMemoryBytes()).isEqualTo(192L << 20);
      // The balloon is not the workload: once the guest's next statistics are in, the demand is
      // where it was (within a few MiB of noise) although the balloon now holds 48 MiB.
      GuestMemoryStats after = await().atMost(Duration.ofSeconds(30))
          .until(() -> driver.memoryStats(a, id.uid()).orElseThrow(),
              s -> s.currentBytes() == 144L << 20 && Math.abs(s.demandBytes() - before.demandBytes()) < 16L << 20);
      assertThat(after.inflatedBytes()).isEqualTo(48L << 20);
    } finally {
      driver.forceStop(a, id.uid());
      driver.undefine(a, id.uid());
    }
  }

  @Test
  void liveMigrationMovesTheGuestWithoutAGapOrARestart() throws Exception {
    GuestId id = newId("migrate");
    Path serial = work.resolve("migrate-serial.log");
    Volume root = driver.createVolume(a, new VolumeSpec(LOCAL_POOL, "migrate-root", 4L << 20, Optional.of(image.toUri())));
    driver.define(a, spec(id, root, Optional.of(serial)));
    driver.start(a, id.uid());
    await().atMost(Duration.ofSeconds(30)).until(() -> CounterGuest.readCount(serial).size() >= 20);

    // KVM where the host offers it, host-model CPU, which the other (identical) host can run.
    boolean kvm = HostCapabilities.parse(Virsh.run(a, "capabilities")).kvm();
    assertThat(driver.find(a, id.uid())).map(GuestInfo::emulated).contains(!kvm);
    assertThat(Virsh.run(a, "dumpxml", id.uid())).contains("<domain type='" + (kvm ? "kvm" : "qemu") + "'");
    assertThat(driver.whyTargetCannotRunIt(a, b, id.uid())).isEmpty();

    // 4 MiB/s keeps the transfer going for seconds, long enough to see progress on the way.
    MigrationJob job = driver.migrate(a, b, id.uid(), new MigrationOptions(false, 4, false, false, false));
    List<MigrationProgress> seen = new CopyOnWriteArrayList<>();
    while (!job.completion().isDone()) {
      job.progress().ifPresent(seen::add);
      Thread.sleep(200);
    }
    MigrationResult result = job.completion().get();

    assertThat(driver.find(b, id.uid())).map(GuestInfo::state).contains(GuestState.RUNNING);
    assertThat(driver.find(a, id.uid())).as("no copy left on the source").isEmpty();
    // Progress was reported while the transfer ran, more than once.
    assertThat(seen).isNotEmpty().allSatisfy(p -> assertThat(p.percent()).isBetween(0, 100));
    assertThat(seen.stream().map(MigrationProgress::elapsed).distinct().count()).isGreaterThan(1);
    assertThat(result.finalProgress().totalBytes()).isPositive();
    assertThat(result.downtime()).isPresent();
    assertThat(nodes.libDir("kvm-b").resolve("images/polyvisor/migrate-root")).as("disk copied").exists();

    int before = CounterGuest.readCount(serial).size();
    await().atMost(Duration.ofSeconds(30)).until(() -> CounterGuest.readCount(serial).size() >= before + 20);
    CounterGuest.assertContinuous(CounterGuest.readCount(serial));
    remove(b, id, "migrate-root");
    driver.deleteVolume(a, LOCAL_POOL, "migrate-root");
  }

  /**
   * Moves that reach a host without their disks' pool at the same instant (an evacuation starts
   * its first moves together) give it the pool once, and all start: the pool's creation used to
   * race, and every move but one failed with "pool 'polyvisor-local' already exists".
   */
  @Test
  void movesStartedAtOnceToAHostWithoutTheirPoolAllStart() throws Exception {
    try (KvmNodes fresh = KvmNodes.start(work.resolve("fresh"), "kvm-fresh")) {
      Host target = fresh.host("kvm-fresh");
      List<GuestId> ids = new java.util.ArrayList<>();
      for (int i = 0; i < 3; i++) {
        GuestId id = newId("together-" + i);
        Volume root = driver.createVolume(a, new VolumeSpec(LOCAL_POOL, "together-" + i, 4L << 20, Optional.of(image.toUri())));
        driver.define(a, spec(id, root, Optional.empty()));
        driver.start(a, id.uid());
        ids.add(id);
      }
      java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
      List<CompletableFuture<MigrationJob>> starts = ids.stream().map(id -> CompletableFuture.supplyAsync(() -> {
        try {
          go.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        return driver.migrate(a, target, id.uid(), new MigrationOptions(false, 0, false, false, false));
      })).toList();
      go.countDown();
      for (CompletableFuture<MigrationJob> start : starts) {
        start.get(60, TimeUnit.SECONDS).completion().get(60, TimeUnit.SECONDS);
      }
      for (int i = 0; i < ids.size(); i++) {
        assertThat(driver.find(target, ids.get(i).uid())).map(GuestInfo::state).contains(GuestState.RUNNING);
        assertThat(driver.find(a, ids.get(i).uid())).isEmpty();
        remove(target, ids.get(i), "together-" + i);
        driver.deleteVolume(a, LOCAL_POOL, "together-" + i);
      }
    }
  }

  @Test
  void aCpuThatNeedsAFeatureTheTargetLacksIsRefusedWithWhatIsMissing() throws Exception {
    String domainType = HostCapabilities.parse(Virsh.run(b, "capabilities")).domainType();
    // Features of a few recent server CPUs, which neither QEMU's emulation nor this machine offers.
    String cpu = "<cpu mode='custom' match='exact'><model fallback='forbid'>qemu64</model>"
        + "<feature policy='require' name='avx512-vp2intersect'/><feature policy='require' name='amx-tile'/></cpu>";

    Optional<String> why = driver.compare(b, new LibvirtDomainXml.GuestCpu(Optional.of(cpu), "qemu64", domainType, null), "a test CPU");

    assertThat(why).hasValueSatisfying(w -> assertThat(w).startsWith("the CPU of a test CPU (qemu64) cannot run on kvm-b: ")
        .containsAnyOf("avx512-vp2intersect", "amx-tile"));
    assertThat(driver.compare(b, new LibvirtDomainXml.GuestCpu(
        Optional.of("<cpu mode='custom' match='exact'><model fallback='forbid'>qemu64</model></cpu>"), "qemu64", domainType, null),
        "a test CPU")).as("every host runs qemu64").isEmpty();
  }

  @Test
  void abortedMigrationLeavesTheGuestRunningOnTheSource() throws Exception {
    GuestId id = newId("abort");
    Path serial = work.resolve("abort-serial.log");
    Volume root = driver.createVolume(a, new VolumeSpec(LOCAL_POOL, "abort-root", 4L << 20, Optional.of(image.toUri())));
    driver.define(a, spec(id, root, Optional.of(serial)));
    driver.start(a, id.uid());
    await().atMost(Duration.ofSeconds(30)).until(() -> CounterGuest.readCount(serial).size() >= 10);

    MigrationJob job = driver.migrate(a, b, id.uid(), new MigrationOptions(false, 1, false, false, false));
    await().atMost(Duration.ofSeconds(30)).until(() -> job.progress().isPresent());
    job.abort();

    assertThatThrownBy(() -> job.completion().get(60, TimeUnit.SECONDS))
        .isInstanceOf(ExecutionException.class)
        .cause().isInstanceOf(HypervisorException.class).hasMessageContaining(a.nodeName());
    assertThat(driver.find(a, id.uid())).map(GuestInfo::state).contains(GuestState.RUNNING);
    assertThat(driver.find(b, id.uid())).isEmpty();
    int before = CounterGuest.readCount(serial).size();
    await().atMost(Duration.ofSeconds(30)).until(() -> CounterGuest.readCount(serial).size() >= before + 10);
    CounterGuest.assertContinuous(CounterGuest.readCount(serial));
    remove(a, id, "abort-root");
  }

  @Test
  void reconnectsAfterTheDaemonIsKilledAndRestarted() throws Exception {
    Host c = nodesForRestart();
    GuestId id = newId("reconnect");
    Volume root = driver.createVolume(c, new VolumeSpec(LOCAL_POOL, "reconnect-root", 4L << 20, Optional.of(image.toUri())));
    driver.define(c, spec(id, root, Optional.empty()));
    driver.start(c, id.uid());

    restartable.killDaemon("kvm-c");
    assertThatThrownBy(() -> driver.find(c, id.uid())).isInstanceOf(HypervisorException.class).hasMessageContaining("kvm-c");
    restartable.startNode("kvm-c");

    // The same driver instance reconnects by itself, and libvirtd has reattached to the guest.
    await().atMost(Duration.ofSeconds(30)).ignoreExceptions()
        .untilAsserted(() -> assertThat(driver.find(c, id.uid())).map(GuestInfo::state).contains(GuestState.RUNNING));
    remove(c, id, "reconnect-root");
  }

  private static KvmNodes restartable;

  /** A third node of its own, so that killing its daemon cannot disturb the other tests. */
  private static Host nodesForRestart() {
    restartable = KvmNodes.start(work.resolve("restartable"), "kvm-c");
    return restartable.host("kvm-c");
  }

  @AfterAll
  static void stopRestartable() {
    if (restartable != null) {
      restartable.close();
    }
  }

  private static void remove(Host host, GuestId id, String volume) {
    driver.forceStop(host, id.uid());
    driver.undefine(host, id.uid());
    driver.deleteVolume(host, LOCAL_POOL, volume);
  }

  private static GuestId newId(String name) {
    return new GuestId("driver-it", name, UUID.randomUUID().toString());
  }

  private static GuestSpec spec(GuestId id, Volume root, Optional<Path> serial) {
    List<GuestDisk> disks = root == null ? List.of() : List.of(new GuestDisk("root", root.path(), root.format(), Optional.of(1)));
    return new GuestSpec(id, 1, GuestMemory.fixed(GUEST_MEMORY), NumaPlacement.None, disks, List.of(), serial);
  }

  /** A domain defined behind the operator's back, without its metadata. */
  private static final class ForeignDomain implements AutoCloseable {
    private final Connect connection;
    private final String uid;

    ForeignDomain(Host host, String uid) throws Exception {
      this.connection = new Connect(host.endpoint());
      this.uid = uid;
      connection.domainDefineXML("<domain type='qemu'><name>foreign-" + uid + "</name><uuid>" + uid
          + "</uuid><memory unit='MiB'>16</memory><os><type arch='x86_64' machine='pc'>hvm</type></os></domain>");
    }

    boolean stillDefined() throws Exception {
      return connection.domainLookupByUUIDString(uid) != null;
    }

    @Override
    public void close() throws Exception {
      connection.domainLookupByUUIDString(uid).undefine();
      connection.close();
    }
  }
}
