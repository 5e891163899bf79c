package io.polyvisor.faults;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.testing.OperatorProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Two operator processes that elect a leader through a Lease, kept at two: one that dies (killed
 * by the campaign, or exiting by itself after losing its lease) is replaced by a new one, each
 * named {@code operator-N} (its HOSTNAME, so its leader-election identity).
 */
final class Operators implements AutoCloseable {

  /** The Lease the operator takes (PolyvisorOperator's LEASE). */
  static final String LEASE = "polyvisor-operator";

  private final Path folder;
  private final Map<String, String> environment;
  private final String kubeconfig;
  private final CampaignLog log;
  private final KubernetesClient client;
  private final String leaseNamespace;
  private final List<Named> running = new CopyOnWriteArrayList<>();
  private final Thread supervisor = new Thread(this::superviseForever, "operators");
  private volatile boolean stopped;
  private int started;
  private volatile int wanted = 2;

  record Named(String name, OperatorProcess process) {}

  Operators(Path folder, Map<String, String> environment, String kubeconfig, CampaignLog log, KubernetesClient client,
      String leaseNamespace) {
    this.folder = folder;
    this.environment = environment;
    this.kubeconfig = kubeconfig;
    this.log = log;
    this.client = client;
    this.leaseNamespace = leaseNamespace;
    supervisor.setDaemon(true);
  }

  /** Starts two and keeps them at two from now on. */
  void start() {
    while (running.size() < wanted) {
      startOne();
    }
    supervisor.start();
  }

  /** The identity holding the Lease, if any. */
  Optional<String> leader() {
    try {
      Lease lease = client.leases().inNamespace(leaseNamespace).withName(LEASE).get();
      return Optional.ofNullable(lease).map(l -> l.getSpec().getHolderIdentity());
    } catch (RuntimeException e) {
      return Optional.empty();
    }
  }

  /** SIGKILLs the leader (or, with {@code leader} false or no leader known, another one); says which. */
  String kill(boolean leader) {
    Optional<String> holder = leader();
    Named victim = null;
    for (Named n : running) {
      boolean isLeader = holder.isPresent() && holder.get().equals(n.name());
      if (n.process().alive() && isLeader == leader) {
        victim = n;
      }
    }
    if (victim == null) {
      victim = running.stream().filter(n -> n.process().alive()).findFirst().orElse(null);
    }
    if (victim == null) {
      return "no operator running to kill";
    }
    boolean holderRuns = holder.isPresent() && running.stream().anyMatch(n -> n.name().equals(holder.get()) && n.process().alive());
    String what = victim.name() + " (pid " + victim.process().pid() + ", " + (holder.map(victim.name()::equals).orElse(false)
        ? "the leader" : holder.isEmpty() ? "no Lease holder yet" : holderRuns ? "not the leader; leader " + holder.get()
        : "not the leader; the Lease still names " + holder.get() + ", which no longer runs") + ")";
    running.remove(victim);
    victim.process().kill();
    return what;
  }

  /** Waits until two operators run (after a fault, before the campaign checks convergence). */
  boolean awaitBoth(Duration timeout) throws InterruptedException {
    Instant deadline = Instant.now().plus(timeout);
    while (Instant.now().isBefore(deadline)) {
      if (running.stream().filter(n -> n.process().alive()).count() >= wanted) {
        return true;
      }
      Thread.sleep(500);
    }
    return false;
  }

  String describe() {
    StringBuilder text = new StringBuilder();
    for (Named n : running) {
      text.append(n.name()).append(" pid ").append(n.process().pid()).append(" log ").append(n.process().log()).append("; ");
    }
    return text + "leader " + leader().orElse("none");
  }

  private void superviseForever() {
    while (!stopped) {
      for (Named n : running) {
        if (!n.process().alive()) {
          running.remove(n);
          log.note(n.name() + " (pid " + n.process().pid() + ") exited by itself: " + lastLines(n.process().log(), 3));
        }
      }
      if (!stopped && running.size() < wanted) {
        startOne();
      }
      try {
        Thread.sleep(500);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  private synchronized void startOne() {
    String name = "operator-" + (++started);
    Map<String, String> env = new HashMap<>(environment);
    env.put("HOSTNAME", name);
    env.put("POLYVISOR_NAMESPACE", leaseNamespace);
    Instant begun = Instant.now();
    try {
      OperatorProcess process = OperatorProcess.start(folder.resolve(name), env, kubeconfig);
      running.add(new Named(name, process));
      log.note(name + " started (pid " + process.pid() + ", log " + process.log() + ") in "
          + Duration.between(begun, Instant.now()).toMillis() + " ms");
    } catch (IOException | RuntimeException e) {
      log.note(name + " did not start: " + e.getMessage());
    }
  }

  private static String lastLines(Path file, int count) {
    try {
      List<String> lines = Files.readAllLines(file);
      return String.join(" | ", lines.subList(Math.max(0, lines.size() - count), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }

  @Override
  public void close() {
    stopped = true;
    supervisor.interrupt();
    try {
      supervisor.join(70_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    for (Named n : running) {
      n.process().close();
    }
    running.clear();
  }
}
