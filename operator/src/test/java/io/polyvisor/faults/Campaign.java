package io.polyvisor.faults;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.polyvisor.faults.Timeline.Migration;
import io.polyvisor.testing.ApiFaultProxy;
import io.polyvisor.testing.KvmNodes;
import io.polyvisor.testing.RestartableApiServer;
import io.polyvisor.testing.Virsh;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;

/**
 * The rounds of the campaign. Each round starts a move (an evacuation, a live, post-copy or
 * Restart migration), waits a random while (often until the move's transfer is under way, then a
 * random fraction of a few seconds more), injects one fault, undoes it (the daemon back, the
 * proxy healed, the label back), and lets the moves settle for a while before the next round. The
 * faults come from a shuffled deck of every kind, so that a short run sees most kinds. Everything
 * random comes from one seeded {@link Random}; the same seed replays the same choices (the
 * instants still depend on how fast this machine is).
 */
final class Campaign {

  /** What a round set moving, so that the fault can aim at it. */
  static final class Move {
    final String kind;
    String vm;
    String migration;
    String evacuated;
    String source;
    String target;
    /** A guest created for this round only, deleted when it settles. */
    String temporaryVm;

    Move(String kind) {
      this.kind = kind;
    }

    @Override
    public String toString() {
      return kind + (vm == null ? "" : " of " + vm) + (evacuated == null ? "" : " of node " + evacuated)
          + (migration == null ? "" : " (" + migration + ")") + (source == null ? "" : " from " + source)
          + (target == null ? "" : " to " + target);
    }
  }

  private final Cluster cluster;
  private final KvmNodes nodes;
  private final List<String> nodeNames;
  private final Operators operators;
  private final ApiFaultProxy proxy;
  private final RestartableApiServer apiServer;
  private final Timeline timeline;
  private final ConsoleWatcher consoles;
  private final Names names;
  private final CampaignLog log;
  private final Random random;
  private final Function<String, String> vmManifest;
  private final Function<String, String> busyManifest;
  private int busyGuests;
  private final Function<String, Path> consoleFile;
  private final Duration settle;
  private final String normalPolicy;
  private final List<Thread> background = new CopyOnWriteArrayList<>();
  private final List<Fault> deck = new ArrayList<>();
  private List<String> moveKinds = MOVES;

  /** The moves a round picks from, evacuations and live moves twice as often as the others. */
  static final List<String> MOVES = List.of("evacuation", "evacuation", "live", "live", "restart", "post-copy");

  /** Rounds pick their move from these only (faults that need a kind of move still get it). */
  void moves(List<String> kinds) {
    for (String kind : kinds) {
      if (!MOVES.contains(kind)) {
        throw new IllegalArgumentException("faults.moves: no move " + kind + "; moves are " + new java.util.TreeSet<>(MOVES));
      }
    }
    this.moveKinds = List.copyOf(kinds);
  }

  Campaign(Cluster cluster, KvmNodes nodes, List<String> nodeNames, Operators operators, ApiFaultProxy proxy,
      RestartableApiServer apiServer, Timeline timeline,
      ConsoleWatcher consoles, Names names, CampaignLog log, Random random, Function<String, String> vmManifest,
      Function<String, String> busyManifest, Function<String, Path> consoleFile, Duration settle, String normalPolicy) {
    this.busyManifest = busyManifest;
    this.cluster = cluster;
    this.nodes = nodes;
    this.nodeNames = nodeNames;
    this.operators = operators;
    this.proxy = proxy;
    this.apiServer = apiServer;
    this.timeline = timeline;
    this.consoles = consoles;
    this.names = names;
    this.log = log;
    this.random = random;
    this.vmManifest = vmManifest;
    this.consoleFile = consoleFile;
    this.settle = settle;
    this.normalPolicy = normalPolicy;
  }

  /** Runs rounds until {@code count} faults have been injected, then undoes whatever is left. */
  void run(int count, List<Fault> kinds) throws InterruptedException {
    for (int round = 1; log.faults() < count; round++) {
      Fault fault = draw(kinds);
      Move move = startMove(fault);
      log.note("round " + round + ": " + move + ", fault to come: " + fault.word);
      awaitInstant(move, fault);
      inject(fault, move);
      settle(move);
    }
    restoreEverything();
  }

  private Fault draw(List<Fault> kinds) {
    if (deck.isEmpty()) {
      deck.addAll(kinds);
      Collections.shuffle(deck, random);
    }
    return deck.remove(0);
  }

  // --- moves -------------------------------------------------------------------------------------

  private Move startMove(Fault fault) {
    String kind = switch (fault) {
      case UNCORDON -> "evacuation";
      case SECOND_MIGRATION -> random.nextBoolean() ? "live" : "restart";
      default -> moveKinds.get(random.nextInt(moveKinds.size()));
    };
    Move move = new Move(kind);
    if (kind.equals("evacuation")) {
      move.evacuated = busiestNode();
      move.source = move.evacuated;
      cluster.cordon(move.evacuated, true);
      return move;
    }
    Optional<GenericKubernetesResource> vm;
    if (kind.equals("post-copy")) {
      vm = busyGuest(move);
      // The transfer soon outruns a 1 s budget (1 s per GiB, at least 1 GiB counted) on a 1 MiB/s link.
      cluster.migrationPolicy("\"allowPostCopy\": true, \"completionTimeoutPerGiBSeconds\": 1, \"bandwidthMiBps\": 1");
    } else {
      vm = idleRunningVm();
    }
    if (vm.isEmpty()) {
      move.evacuated = busiestNode();
      move.source = move.evacuated;
      log.note("no VM is idle and running for a " + kind + " move: evacuating " + move.evacuated + " instead");
      cluster.cordon(move.evacuated, true);
      return move;
    }
    move.vm = Cluster.name(vm.get());
    move.source = Cluster.nodeName(vm.get());
    List<String> others = new ArrayList<>(nodeNames.stream().filter(n -> !n.equals(move.source) && !cordoned(n)).toList());
    move.target = others.isEmpty() || random.nextInt(4) == 0 ? null : others.get(random.nextInt(others.size()));
    GenericKubernetesResource migration = cluster.migrate(move.vm, move.target, kind.equals("restart") ? "Restart" : "Live");
    move.migration = Cluster.name(migration);
    timeline.created(move.migration, Cluster.uid(vm.get()));
    if (kind.equals("post-copy")) {
      allowNoDowntime(move, Cluster.uid(vm.get()));
    }
    return move;
  }

  /**
   * A guest for a post-copy round: a counter guest that keeps rewriting 128 pages of its memory
   * (so pre-copy cannot converge on a slow link, as in MigrationIT's post-copy test), created for
   * this round and deleted at its end, since it keeps a host CPU busy while it runs.
   */
  private Optional<GenericKubernetesResource> busyGuest(Move move) {
    String name = "fc-pc" + (++busyGuests);
    GenericKubernetesResource created = cluster.createVm(busyManifest.apply(name));
    String uid = Cluster.uid(created);
    names.put(uid, name);
    consoles.follow(uid, names.describe(uid), consoleFile.apply(name));
    move.temporaryVm = name;
    log.note("post-copy round: created " + names.describe(uid) + ", a guest that keeps rewriting its memory");
    Instant deadline = Instant.now().plusSeconds(60);
    while (Instant.now().isBefore(deadline)) {
      Optional<GenericKubernetesResource> vm = cluster.vm(name);
      if (vm.isPresent() && "Running".equals(Cluster.phase(vm.get())) && Cluster.nodeName(vm.get()) != null) {
        sleep(2000); // let it boot and count
        return vm;
      }
      sleep(250);
    }
    log.note("post-copy round: " + name + " is not Running 60 s after its creation; moving another guest");
    return idleRunningVm();
  }

  /**
   * An idle counter guest's memory moves in a blink, before any completion timeout: once the
   * transfer runs, its pause at the switch-over is capped at 1 ms (as MigrationIT's post-copy
   * test does), which the few pages it still dirties never fit into, so the transfer outruns its
   * budget and the operator switches it to post-copy.
   */
  private void allowNoDowntime(Move move, String uid) {
    Thread thread = new Thread(() -> {
      Instant deadline = Instant.now().plusSeconds(30);
      while (Instant.now().isBefore(deadline)) {
        Optional<Migration> m = migrationOf(move);
        if (m.isPresent() && Cluster.finalPhase(m.get().phase)) {
          return;
        }
        if (m.isPresent() && "Running".equals(m.get().phase) && m.get().source != null) {
          try {
            Virsh.run(nodes.host(m.get().source), "migrate-setmaxdowntime", uid, "1");
            log.note("post-copy round: the switch-over pause of " + move.vm + "'s transfer capped at 1 ms on " + m.get().source);
            return;
          } catch (AssertionError | Exception notYet) {
            // the transfer job has not begun on the source yet
          }
        }
        sleep(200);
      }
    }, "no-downtime-" + move.vm);
    thread.setDaemon(true);
    thread.start();
  }

  private boolean cordoned(String node) {
    return cluster.cordoned(node);
  }

  /** The node that runs most of the VMs (by their status). */
  private String busiestNode() {
    List<GenericKubernetesResource> vms = cluster.vms();
    String busiest = nodeNames.get(random.nextInt(nodeNames.size()));
    long most = -1;
    List<String> shuffled = new ArrayList<>(nodeNames);
    Collections.shuffle(shuffled, random);
    for (String node : shuffled) {
      long on = vms.stream().filter(vm -> node.equals(Cluster.nodeName(vm))).count();
      if (on > most) {
        most = on;
        busiest = node;
      }
    }
    return busiest;
  }

  /** A Running VM that no active migration is moving, at random. */
  private Optional<GenericKubernetesResource> idleRunningVm() {
    List<String> moving = timeline.active().stream().map(m -> m.vm).toList();
    List<GenericKubernetesResource> idle = new ArrayList<>(cluster.vms().stream()
        .filter(vm -> "Running".equals(Cluster.phase(vm)) && !Cluster.deleting(vm) && !moving.contains(Cluster.name(vm))).toList());
    return idle.isEmpty() ? Optional.empty() : Optional.of(idle.get(random.nextInt(idle.size())));
  }

  /**
   * Waits for the instant of the fault. An edit of the move (deleting its migration or VM,
   * uncordoning, a second migration) waits until the move's migration exists; a second
   * migration then comes within a second (both still queued, as when two are created at once),
   * the others like every fault: half the time once the transfer is under way (Scheduling or
   * Running, at most 20 s) and 0-3 s more, else 0-4 s from now. In a post-copy round, every
   * fault but a second migration waits for the switch to post-copy, then 0-2 s.
   */
  private void awaitInstant(Move move, Fault fault) throws InterruptedException {
    boolean edit = fault == Fault.DELETE_MIGRATION || fault == Fault.DELETE_VM || fault == Fault.UNCORDON
        || fault == Fault.SECOND_MIGRATION;
    if (edit) {
      awaitMigration(move, Duration.ofSeconds(20), false);
    }
    if (move.kind.equals("post-copy") && fault != Fault.SECOND_MIGRATION) {
      // A fault before the switch keeps the switch from happening (the operator cannot act):
      // strike in the post-copy phase itself, where the guest's memory is split between hosts.
      Instant deadline = Instant.now().plusSeconds(30);
      Optional<Migration> m = migrationOf(move);
      while (Instant.now().isBefore(deadline) && !(m.isPresent() && (m.get().postCopy || Cluster.finalPhase(m.get().phase)))) {
        Thread.sleep(50);
        m = migrationOf(move);
      }
      if (m.isEmpty() || !m.get().postCopy) {
        log.note("post-copy round: " + move.migration + " did not switch to post-copy (" + m.map(x -> x.phase + ": " + x.message)
            .orElse("not seen") + ")");
      }
      Thread.sleep(random.nextInt(2000));
    } else if (fault == Fault.SECOND_MIGRATION) {
      Thread.sleep(random.nextInt(1000));
    } else if (random.nextBoolean()) {
      awaitMigration(move, Duration.ofSeconds(20), true);
      Thread.sleep(random.nextInt(3000));
    } else {
      Thread.sleep(random.nextInt(4000));
    }
    migrationOf(move).ifPresent(m -> {
      move.migration = m.name;
      move.vm = m.vm;
      if (m.source != null) {
        move.source = m.source;
      }
      if (m.target != null) {
        move.target = m.target;
      }
    });
  }

  /** Waits until the move's migration is seen (under way: Scheduling or Running, with {@code underWay}). */
  private void awaitMigration(Move move, Duration timeout, boolean underWay) throws InterruptedException {
    Instant deadline = Instant.now().plus(timeout);
    while (Instant.now().isBefore(deadline)) {
      Optional<Migration> m = migrationOf(move);
      if (m.isPresent() && (!underWay || "Running".equals(m.get().phase) || "Scheduling".equals(m.get().phase))) {
        return;
      }
      Thread.sleep(50);
    }
  }

  /** The move's migration: the one created, or for an evacuation the first one moving a VM off the node. */
  private Optional<Migration> migrationOf(Move move) {
    if (move.migration != null) {
      return timeline.migrations().stream().filter(m -> m.name.equals(move.migration)).findFirst();
    }
    return timeline.active().stream().filter(m -> "Evacuation".equals(m.reason) && move.evacuated.equals(m.source)).findFirst()
        .or(() -> timeline.active().stream().filter(m -> "Evacuation".equals(m.reason)).findFirst());
  }

  // --- faults ------------------------------------------------------------------------------------

  private void inject(Fault fault, Move move) throws InterruptedException {
    switch (fault) {
      case OPERATOR_KILL -> {
        boolean leader = random.nextInt(4) != 0;
        String victim = operators.kill(leader);
        log.fault(fault.word, "SIGKILL of " + victim + " during " + move);
      }
      case LIBVIRTD_KILL -> {
        String host = sourceOrTarget(move);
        long downMillis = 500 + random.nextInt(2500);
        int n = log.fault(fault.word, "SIGKILL of libvirtd on " + host + " (" + role(move, host) + " of " + move
            + "), started again in " + downMillis + " ms");
        daemonDown(host, downMillis, n);
      }
      case LIBVIRTD_DOWN -> {
        String host = sourceOrTarget(move);
        long downMillis = 8000 + random.nextInt(12000);
        int n = log.fault(fault.word, "libvirtd on " + host + " (" + role(move, host) + " of " + move
            + ") killed; it refuses connections for " + downMillis + " ms");
        daemonDown(host, downMillis, n);
      }
      case LIBVIRTD_STOP -> {
        String host = sourceOrTarget(move);
        long stoppedMillis = 3000 + random.nextInt(7000);
        int n = log.fault(fault.word, "SIGSTOP of libvirtd on " + host + " (" + role(move, host) + " of " + move
            + ") for " + stoppedMillis + " ms");
        nodes.pauseDaemon(host);
        try {
          Thread.sleep(stoppedMillis);
        } finally {
          nodes.resumeDaemon(host);
        }
        log.faultEnd(n, "SIGCONT of libvirtd on " + host);
      }
      case API_ERRORS -> {
        long millis = 5000 + random.nextInt(7000);
        double errors = 0.2 + random.nextDouble() * 0.3;
        double drops = 0.05 + random.nextDouble() * 0.15;
        int n = log.fault(fault.word, String.format("for %d ms the proxy answers %.0f%% of requests with 409/429/500 and drops %.0f%%"
            + " of connections (half of them after forwarding the request), and drops every open watch, during %s",
            millis, errors * 100, drops * 100, move));
        proxy.misbehave(errors, drops, random.nextLong());
        try {
          Thread.sleep(millis);
        } finally {
          String stats = proxy.behave();
          log.faultEnd(n, "the proxy forwards everything again; during the fault: " + stats);
        }
      }
      case API_OUTAGE -> {
        long millis = 5000 + random.nextInt(10000);
        int n = log.fault(fault.word, "the proxy refuses every connection for " + millis + " ms and drops the open ones (the API"
            + " server as if restarting) during " + move);
        proxy.refuse();
        try {
          Thread.sleep(millis);
        } finally {
          proxy.accept();
        }
        log.faultEnd(n, "the proxy accepts connections again");
      }
      case API_RESTART -> {
        long millis = 1000 + random.nextInt(5000);
        int n = log.fault(fault.word, "SIGKILL of kube-apiserver during " + move + ", started again " + millis + " ms later");
        try {
          apiServer.kill();
          Thread.sleep(millis);
        } finally {
          restartApiServer();
        }
        log.faultEnd(n, "kube-apiserver serves again");
      }
      case DELETE_MIGRATION -> {
        if (move.migration == null) {
          log.note("no migration to delete for " + move + "; killing the leader instead");
          inject(Fault.OPERATOR_KILL, move);
          return;
        }
        log.fault(fault.word, "deleted migration " + phaseOf(move.migration) + " of " + move.vm);
        tolerate(() -> cluster.deleteMigration(move.migration));
      }
      case DELETE_VM -> {
        if (move.vm == null) {
          log.note("no VM moving yet for " + move + "; killing the leader instead");
          inject(Fault.OPERATOR_KILL, move);
          return;
        }
        deleteAndRecreate(fault, move);
      }
      case UNCORDON -> {
        String node = move.evacuated;
        log.fault(fault.word, "uncordoned " + node + " mid-evacuation (" + move + ", migration " + phaseOf(move.migration) + ")");
        cluster.cordon(node, false);
      }
      case RELABEL -> {
        String host = sourceOrTarget(move);
        long millis = 5000 + random.nextInt(5000);
        int n = log.fault(fault.word, "removed label " + Cluster.CLASS_LABEL + " from " + host + " (" + role(move, host) + " of "
            + move + ") for " + millis + " ms");
        cluster.classLabel(host, false);
        try {
          Thread.sleep(millis);
        } finally {
          cluster.classLabel(host, true);
        }
        log.faultEnd(n, "label " + Cluster.CLASS_LABEL + " back on " + host);
      }
      case SECOND_MIGRATION -> {
        if (move.vm == null) {
          log.note("no VM moving yet for " + move + "; killing the leader instead");
          inject(Fault.OPERATOR_KILL, move);
          return;
        }
        List<String> targets = nodeNames.stream().filter(node -> !node.equals(move.source)).toList();
        String target = random.nextInt(3) == 0 ? move.target : targets.get(random.nextInt(targets.size()));
        String method = random.nextBoolean() ? "Live" : "Restart";
        GenericKubernetesResource second = cluster.migrate(move.vm, target, method);
        timeline.created(Cluster.name(second), names.uidOf(move.vm));
        log.fault(fault.word, "created " + Cluster.name(second) + " (" + method + " to " + target + ") while " + phaseOf(move.migration)
            + " moves " + move.vm);
      }
    }
  }

  private void restartApiServer() throws InterruptedException {
    try {
      apiServer.startAgain();
    } catch (java.io.IOException e) {
      throw new IllegalStateException("cannot start kube-apiserver again", e);
    }
  }

  private void daemonDown(String host, long downMillis, int fault) throws InterruptedException {
    try {
      nodes.killDaemon(host);
    } catch (RuntimeException e) {
      log.note("killing libvirtd on " + host + ": " + e.getMessage());
    }
    Thread.sleep(downMillis);
    startDaemon(host);
    log.faultEnd(fault, "libvirtd on " + host + " started again");
  }

  private void startDaemon(String host) {
    for (int attempt = 1; ; attempt++) {
      try {
        nodes.startNode(host);
        return;
      } catch (RuntimeException e) {
        if (attempt == 3) {
          throw e;
        }
        log.note("starting libvirtd on " + host + " failed (attempt " + attempt + "): " + e.getMessage());
      }
    }
  }

  /**
   * Deletes the move's VM and, in the background once it is gone, creates it again under the same
   * name (a new uid). Its console file is renamed first, so the new incarnation gets a fresh one
   * and any leftover copy of the old one keeps writing to the old.
   */
  private void deleteAndRecreate(Fault fault, Move move) {
    String name = move.vm;
    String oldUid = names.uidOf(name);
    log.fault(fault.word, "deleted VM " + names.describe(oldUid) + " during " + move + " (migration " + phaseOf(move.migration)
        + "); it is created again once it is gone");
    tolerate(() -> cluster.deleteVm(name));
    Thread thread = new Thread(() -> {
      Instant deadline = Instant.now().plusSeconds(120);
      while (Instant.now().isBefore(deadline)) {
        Optional<GenericKubernetesResource> vm = cluster.vm(name);
        if (vm.isEmpty() || !Cluster.uid(vm.get()).equals(oldUid)) {
          break;
        }
        sleep(500);
      }
      if (cluster.vm(name).map(vm -> Cluster.uid(vm).equals(oldUid)).orElse(false)) {
        log.note("VM " + names.describe(oldUid) + " is still not gone 120 s after its deletion; not creating it again");
        return;
      }
      Path file = consoleFile.apply(name);
      Path old = file.resolveSibling(file.getFileName() + "." + oldUid.substring(0, 8));
      try {
        if (Files.exists(file)) {
          Files.move(file, old, StandardCopyOption.ATOMIC_MOVE);
        }
      } catch (IOException e) {
        log.note("renaming " + file + ": " + e.getMessage());
      }
      consoles.moved(oldUid, old);
      GenericKubernetesResource created = cluster.createVm(vmManifest.apply(name));
      names.put(Cluster.uid(created), name);
      consoles.follow(Cluster.uid(created), names.describe(Cluster.uid(created)), file);
      log.note("VM " + name + " created again as " + names.describe(Cluster.uid(created)) + " (the old one's console: " + old.getFileName() + ")");
    }, "recreate-" + name);
    thread.setDaemon(true);
    background.add(thread);
    thread.start();
  }

  private String sourceOrTarget(Move move) {
    if (move.target != null && random.nextBoolean()) {
      return move.target;
    }
    if (move.source != null) {
      return move.source;
    }
    return nodeNames.get(random.nextInt(nodeNames.size()));
  }

  private static String role(Move move, String host) {
    return host.equals(move.source) ? "source" : host.equals(move.target) ? "target" : "bystander";
  }

  private String phaseOf(String migration) {
    if (migration == null) {
      return "none yet";
    }
    return timeline.migrations().stream().filter(m -> m.name.equals(migration)).findFirst()
        .map(m -> m.name + " " + (m.phase == null ? "not started" : m.phase) + (m.source == null ? "" : " " + m.source + " -> " + m.target))
        .orElse(migration + " not seen yet");
  }

  // --- between rounds ----------------------------------------------------------------------------

  /** Waits up to the settle time for the moves to end, then gives the evacuated node back and resets the class. */
  private void settle(Move move) throws InterruptedException {
    Instant deadline = Instant.now().plus(settle);
    while (Instant.now().isBefore(deadline) && !timeline.active().isEmpty()) {
      Thread.sleep(250);
    }
    if (move.evacuated != null && cluster.cordoned(move.evacuated)) {
      cluster.cordon(move.evacuated, false);
      log.note("uncordoned " + move.evacuated + " (end of the round)");
    }
    if (move.kind.equals("post-copy")) {
      cluster.migrationPolicy(normalPolicy);
    }
    if (move.temporaryVm != null) {
      log.note("deleted " + move.temporaryVm + ", the post-copy round's guest");
      tolerate(() -> cluster.deleteVm(move.temporaryVm));
    }
    List<String> active = timeline.active().stream().map(m -> m.name + " " + m.phase).toList();
    if (!active.isEmpty()) {
      log.note("round over with migrations still active: " + active);
    }
    Thread.sleep(random.nextInt(1500));
  }

  /** After the last fault: every daemon up, the proxy healthy, labels back, nodes uncordoned, VMs re-created, two operators. */
  void restoreEverything() throws InterruptedException {
    for (Thread thread : background) {
      thread.join(150_000);
    }
    for (String node : nodeNames) {
      tolerate(() -> nodes.resumeDaemon(node));
      tolerate(() -> startDaemon(node));
      if (!cluster.hasClassLabel(node)) {
        cluster.classLabel(node, true);
      }
      if (cluster.cordoned(node)) {
        cluster.cordon(node, false);
      }
    }
    if (proxy != null) {
      proxy.accept();
      proxy.behave();
    }
    cluster.migrationPolicy(normalPolicy);
    boolean both = operators.awaitBoth(Duration.ofSeconds(90));
    log.note("faults over: every libvirtd runs, the proxy forwards everything, every node is labelled and uncordoned, "
        + (both ? "two operators run" : "NOT two operators running") + " (" + operators.describe() + ")");
  }

  private void tolerate(Runnable action) {
    try {
      action.run();
    } catch (RuntimeException e) {
      log.note("(" + e.getClass().getSimpleName() + ": " + e.getMessage() + ")");
    }
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
