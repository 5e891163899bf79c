package io.polyvisor.faults;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.driver.Host;
import io.polyvisor.faults.Audit.Problem;
import io.polyvisor.faults.CampaignLog.Anomaly;
import io.polyvisor.faults.Timeline.Migration;
import io.polyvisor.testing.ApiFaultProxy;
import io.polyvisor.testing.CounterGuest;
import io.polyvisor.testing.KvmNodes;
import io.polyvisor.testing.NodeRegistration;
import io.polyvisor.testing.RestartableApiServer;
import io.polyvisor.testing.TestManifests;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fault campaign: counter guests moved back and forth between three real libvirtd nodes
 * (evacuations, live, post-copy and Restart migrations) by two leader-electing operator processes
 * that reach the API server through a fault-injecting proxy, while faults strike at random
 * instants of the moves (see {@link Fault}). A watcher reads every host every 40 ms and every
 * console every 200 ms; after the faults stop, every VM must run where its status says within
 * {@code faults.convergeSeconds} (90 s for a short run of up to 20 faults, 180 s beyond) and stay
 * so for 25 s, with nothing of it anywhere else.
 *
 * <p>{@code -Dfaults.count=N} (by default one of each kind: the short run of the test command; 100 or more for the full
 * campaign), {@code -Dfaults.seed=S} to replay a run's choices (its seed is printed first),
 * {@code -Dfaults.kinds=operator-kill,libvirtd-stop,...} to inject only some kinds,
 * {@code -Dfaults.moves=evacuation,live,restart,post-copy} to make only some kinds of move. The last
 * line printed is {@code faults=N duplicated=D lost=L paused=P orphaned=O regressed=R}; the test
 * fails unless D, L, P, O and R are 0. The whole log is kept in
 * {@code operator/target/fault-campaign/}, the operators' logs in {@code operator/target/operator-logs/}.
 */
class FaultCampaignIT {

  private static final String CLASS = "fc-kvm";
  private static final String STORAGE = "fc-local";
  private static final List<String> NODES = List.of("fc-1", "fc-2", "fc-3");
  /** The guests, and their memory: 32-64 MiB keeps each transfer short but not instant at a few MiB/s. */
  private static final Map<String, String> GUESTS = new LinkedHashMap<>(Map.of(
      "fc-a", "32Mi", "fc-b", "32Mi", "fc-c", "48Mi", "fc-d", "64Mi", "fc-e", "64Mi"));
  /** The class's migration policy between post-copy rounds: slow enough that a fault can land mid-transfer. */
  private static final String NORMAL_POLICY =
      "\"bandwidthMiBps\": 2, \"allowPostCopy\": false, \"completionTimeoutPerGiBSeconds\": 150";

  @TempDir static Path work;
  private static KvmNodes nodes;
  private static Operators operators;
  private static ApiFaultProxy proxy;
  private static RestartableApiServer apiServer;
  private static HostWatcher hostWatcher;
  private static ConsoleWatcher consoleWatcher;
  private static Timeline timeline;
  private static CampaignLog log;

  /** The test command's run: one fault of every kind, in the order and at the instants this seed chooses. */
  private static final int SHORT_RUN = Fault.values().length;
  private static final long SHORT_RUN_SEED = 5022252020597410627L;

  @Test
  void noVmRunsTwiceIsLostPausedLeftBehindOrSetBackWhateverFailsAndWhen() throws Exception {
    int count = Integer.getInteger("faults.count", SHORT_RUN);
    // The test command's short run replays one choice of faults and instants (their effects
    // still vary with the machine's timing), so that it proves the campaign works; exploring new
    // choices is the full run's job, with a new seed each time.
    long seed = Long.getLong("faults.seed", count == SHORT_RUN ? SHORT_RUN_SEED : new Random().nextLong());
    // The short run (the test command's) must end within about five minutes.
    Duration converge = Duration.ofSeconds(Long.getLong("faults.convergeSeconds", count <= 20 ? 90 : 180));
    Duration settle = Duration.ofSeconds(count <= 20 ? 6 : 25);
    List<Fault> kinds = kinds(System.getProperty("faults.kinds", ""));
    Random random = new Random(seed);

    // An API server of the campaign's own, so that a fault can kill and restart it.
    apiServer = RestartableApiServer.start(work.resolve("api-server"));
    KubernetesClient client = apiServer.client();
    String namespace = apiServer.newNamespace("fc");
    String leaseNamespace = apiServer.newNamespace("fc-lease");
    log = new CampaignLog(KvmNodes.REPO.resolve("operator/target/fault-campaign/campaign-" + seed + ".log"), System.out);
    log.note("fault campaign: seed " + seed + " (replay with -Dfaults.seed=" + seed + "), " + count + " faults of "
        + kinds.stream().map(k -> k.word).toList() + ", convergence bound " + converge.toSeconds() + " s, namespace " + namespace
        + ", log " + log.path());

    nodes = KvmNodes.start(work.resolve("nodes"), NODES.toArray(String[]::new));
    Map<String, String> endpoints = new LinkedHashMap<>();
    for (Host host : nodes.hosts()) {
      NodeRegistration.register(host, "1Gi", CLASS, apiServer.kubeconfigYaml());
      endpoints.put(host.nodeName(), host.endpoint());
    }
    Path image = CounterGuest.build(work);
    Path busyImage = CounterGuest.build(work, 128);
    client.resource(client.getKubernetesSerialization().unmarshal(
        TestManifests.hypervisorClass(CLASS, "libvirt", "qemu+tcp://{node.address}/system"), GenericKubernetesResource.class))
        .serverSideApply();
    client.resource(TestManifests.localStorageClass(STORAGE)).serverSideApply();
    Cluster cluster = new Cluster(client, namespace, CLASS);
    cluster.migrationPolicy(NORMAL_POLICY);

    Names names = new Names();
    Duplicates duplicates = new Duplicates(log);
    hostWatcher = new HostWatcher(endpoints, namespace + "_", log, duplicates, names::describe);
    consoleWatcher = new ConsoleWatcher(log, duplicates);
    timeline = new Timeline(cluster, log, names, Set.copyOf(NODES));
    hostWatcher.start();
    consoleWatcher.start();
    timeline.start();

    proxy = new ApiFaultProxy(apiServer.kubeconfigYaml(), log::note);
    Path consoles = Files.createDirectories(work.resolve("consoles"));
    operators = new Operators(work.resolve("operators"), Map.of(
        "POLYVISOR_CONSOLE_LOG_DIR", consoles.toString(),
        "POLYVISOR_RESYNC_PERIOD_SECONDS", "20",
        // The counter guest ignores ACPI: a short grace period keeps Restart moves quick.
        "POLYVISOR_SHUTDOWN_GRACE_SECONDS", "3",
        "POLYVISOR_LEASE_DURATION_SECONDS", "6",
        "POLYVISOR_LEASE_RENEW_DEADLINE_SECONDS", "4",
        "POLYVISOR_LEASE_RETRY_PERIOD_SECONDS", "1"), proxy.kubeconfigYaml(), log, client, leaseNamespace);
    operators.start();
    log.note("operators: " + operators.describe());

    java.util.function.Function<String, String> manifest =
        name -> TestManifests.counterVm(name, CLASS, "Always", GUESTS.get(name), STORAGE, image);
    java.util.function.Function<String, Path> consoleFile = name -> consoles.resolve(namespace + "_" + name + ".log");
    for (String name : GUESTS.keySet()) {
      GenericKubernetesResource vm = cluster.createVm(manifest.apply(name));
      names.put(Cluster.uid(vm), name);
      consoleWatcher.follow(Cluster.uid(vm), names.describe(Cluster.uid(vm)), consoleFile.apply(name));
    }
    Audit audit = new Audit(cluster, hostWatcher, consoleWatcher, names, NODES, node -> nodes.libDir(node).resolve("images/polyvisor"));
    List<Problem> start = awaitConverged(audit, Duration.ofSeconds(120), Duration.ZERO);
    assertThat(start).as("the guests run before the first fault").isEmpty();
    log.note("every guest runs: " + cluster.vms().stream().map(vm -> Cluster.name(vm) + " on " + Cluster.nodeName(vm))
        .collect(Collectors.joining(", ")));

    Campaign campaign = new Campaign(cluster, nodes, NODES, operators, proxy, apiServer, timeline, consoleWatcher, names, log, random,
        manifest, name -> TestManifests.counterVm(name, CLASS, "Always", "32Mi", STORAGE, busyImage), consoleFile, settle,
        NORMAL_POLICY);
    String moves = System.getProperty("faults.moves", "");
    if (!moves.isBlank()) {
      campaign.moves(Arrays.stream(moves.split(",")).map(String::trim).toList());
    }
    Instant faultsBegan = Instant.now();
    campaign.run(count, kinds);
    log.note(log.faults() + " faults in " + Duration.between(faultsBegan, Instant.now()).toSeconds() + " s; now every VM must"
        + " converge within " + converge.toSeconds() + " s");

    Instant convergeBegan = Instant.now();
    List<Problem> left = awaitConverged(audit, converge, Duration.ofSeconds(25));
    if (left.isEmpty()) {
      log.note("converged in " + Duration.between(convergeBegan, Instant.now()).toSeconds() + " s (and held for 25 s)");
    } else {
      log.note("not converged within " + converge.toSeconds() + " s: " + left.size() + " problems left");
    }
    for (Problem p : left) {
      if (p.kind() == Anomaly.DUPLICATED && duplicates.ongoing(names.uidOf(p.vm().split("/")[0]))) {
        log.note("still " + p + " (counted when it began)");
      } else {
        log.anomaly(p.kind(), p.vm(), p.what());
      }
    }
    reboots(names);
    report(cluster);
    log.printSummaryLast();
    assertThat(log.clean()).as(log.summary() + " (the log: " + log.path() + ")").isTrue();
  }

  /**
   * Waits until the audit finds nothing, then watches on for {@code hold} (a copy started late
   * by a resync counts too) and audits again; returns what is left at the bound.
   */
  private static List<Problem> awaitConverged(Audit audit, Duration bound, Duration hold) throws InterruptedException {
    Instant deadline = Instant.now().plus(bound);
    List<Problem> problems;
    String last = "";
    while (true) {
      problems = audit.check();
      if (problems.isEmpty() && !hold.isZero()) {
        Thread.sleep(hold.toMillis());
        problems = audit.check();
      }
      if (problems.isEmpty() || Instant.now().isAfter(deadline)) {
        return problems;
      }
      String now = problems.stream().map(Problem::toString).sorted().collect(Collectors.joining("; "));
      if (!now.equals(last)) {
        log.note("converging: " + now);
        last = now;
      }
      Thread.sleep(2000);
    }
  }

  /** Reboots beyond one per succeeded Restart move, for every incarnation followed. */
  private static void reboots(Names names) {
    for (String uid : consoleWatcher.uids()) {
      int boots = consoleWatcher.boots(uid);
      long allowed = 1 + timeline.succeededRestarts(uid);
      if (boots > allowed) {
        List<String> unfinished = timeline.unfinishedRestarts(uid);
        log.anomaly(Anomaly.REGRESSED, names.describe(uid), "booted " + boots + " times; " + allowed + " allowed (the first boot and "
            + (allowed - 1) + " succeeded Restart moves)" + (unfinished.isEmpty() ? "" : "; Restart moves that did not succeed: " + unfinished));
      }
    }
  }

  /** What moved and how, what the watchers and the proxy did: context for the final line. */
  private static void report(Cluster cluster) {
    Map<String, Integer> outcomes = new TreeMap<>();
    int postCopy = 0;
    for (Migration m : timeline.migrations()) {
      outcomes.merge(m.method + "/" + m.reason + " " + m.phase + (m.deleted ? " (deleted)" : ""), 1, Integer::sum);
      postCopy += m.postCopy ? 1 : 0;
    }
    log.note("migrations: " + outcomes + "; " + postCopy + " switched to post-copy");
    log.note("host watcher: " + hostWatcher.statistics());
    log.note("operators: " + operators.describe());
  }

  private static List<Fault> kinds(String list) {
    if (list.isBlank()) {
      return Arrays.asList(Fault.values());
    }
    List<Fault> kinds = new ArrayList<>();
    for (String word : list.split(",")) {
      kinds.add(Arrays.stream(Fault.values()).filter(f -> f.word.equals(word.trim())).findFirst()
          .orElseThrow(() -> new IllegalArgumentException("faults.kinds: no fault " + word + "; kinds are "
              + Arrays.stream(Fault.values()).map(f -> f.word).toList())));
    }
    return kinds;
  }

  @AfterAll
  static void stopEverything() {
    if (nodes != null) {
      for (String node : NODES) {
        try {
          nodes.resumeDaemon(node);
        } catch (RuntimeException e) {
          // not stopped
        }
      }
    }
    if (operators != null) {
      operators.close();
    }
    if (proxy != null) {
      proxy.close();
    }
    if (timeline != null) {
      timeline.close();
    }
    if (hostWatcher != null) {
      hostWatcher.close();
    }
    if (consoleWatcher != null) {
      consoleWatcher.close();
    }
    if (nodes != null) {
      nodes.close();
    }
    if (apiServer != null) {
      apiServer.close();
    }
    if (log != null) {
      log.close();
    }
  }
}
