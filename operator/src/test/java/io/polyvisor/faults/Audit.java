package io.polyvisor.faults;

import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.polyvisor.faults.CampaignLog.Anomaly;
import io.polyvisor.faults.HostWatcher.Copy;
import io.polyvisor.faults.HostWatcher.Sample;
import io.polyvisor.faults.HostWatcher.State;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * What must hold once the faults have stopped: every VM Running on the node its status names,
 * its counter still counting there, and nothing of ours anywhere else (no other copy, running,
 * paused or defined, and no volume but the VM's own on that node).
 */
final class Audit {

  /** One thing that does not hold, and the column of the final line it counts in. */
  record Problem(Anomaly kind, String vm, String what) {
    @Override
    public String toString() {
      return kind.word + " " + vm + ": " + what;
    }
  }

  /** How long a VM's console may stay silent while it is said to run. */
  static final Duration SILENCE = Duration.ofSeconds(5);

  private final Cluster cluster;
  private final HostWatcher hosts;
  private final ConsoleWatcher consoles;
  private final Names names;
  private final Function<String, Path> poolDir;
  private final List<String> nodes;

  Audit(Cluster cluster, HostWatcher hosts, ConsoleWatcher consoles, Names names, List<String> nodes, Function<String, Path> poolDir) {
    this.cluster = cluster;
    this.hosts = hosts;
    this.consoles = consoles;
    this.names = names;
    this.nodes = nodes;
    this.poolDir = poolDir;
  }

  /** Reads every host afresh and the VMs, and returns what does not hold (empty: converged). */
  List<Problem> check() throws InterruptedException {
    List<Problem> problems = new ArrayList<>();
    Map<String, Optional<Sample>> fresh = hosts.fresh(Duration.ofSeconds(10));
    List<GenericKubernetesResource> vms = cluster.vms();
    Set<String> uids = new HashSet<>();
    Set<String> unreadable = new HashSet<>();
    fresh.forEach((host, sample) -> {
      if (sample.isEmpty()) {
        unreadable.add(host);
      }
    });
    for (GenericKubernetesResource vm : vms) {
      String uid = Cluster.uid(vm);
      uids.add(uid);
      names.put(uid, Cluster.name(vm));
      String who = names.describe(uid);
      String node = Cluster.nodeName(vm);
      String phase = Cluster.phase(vm);
      Map<String, Copy> copies = new TreeMap<>();
      fresh.forEach((host, sample) -> sample.map(s -> s.copies().get(uid)).ifPresent(c -> copies.put(host, c)));
      List<String> running = copies.entrySet().stream().filter(e -> e.getValue().state() == State.RUNNING).map(Map.Entry::getKey).toList();
      String where = "status " + phase + " on " + node + ", hosts: " + (copies.isEmpty() ? "none" : describe(copies))
          + (unreadable.isEmpty() ? "" : ", unreadable: " + unreadable);
      if (Cluster.deleting(vm)) {
        problems.add(new Problem(Anomaly.LOST, who, "still being deleted; " + where));
      } else if (running.isEmpty()) {
        problems.add(new Problem(Anomaly.LOST, who, "runs nowhere; " + where));
      } else if (node == null || !running.contains(node)) {
        problems.add(new Problem(Anomaly.LOST, who, "its status names " + node + ", which does not run it; " + where));
      } else if (!"Running".equals(phase)) {
        problems.add(new Problem(Anomaly.LOST, who, "phase " + phase + " though it runs; " + where));
      } else {
        Instant last = consoles.lastLine(uid);
        if (last == null || Duration.between(last, Instant.now()).compareTo(SILENCE) > 0) {
          problems.add(new Problem(Anomaly.LOST, who, "runs but its console is silent since "
              + (last == null ? "ever" : CampaignLog.clock(last)) + " (count at " + consoles.lastValue(uid) + "); " + where));
        }
      }
      if (running.size() > 1) {
        problems.add(new Problem(Anomaly.DUPLICATED, who, "runs on " + running + "; " + where));
      }
      copies.forEach((host, copy) -> {
        if (copy.state() == State.PAUSED) {
          problems.add(new Problem(Anomaly.PAUSED, who, "a copy is paused on " + host + "; " + where));
        } else if (!host.equals(node) && copy.state() != State.RUNNING) {
          problems.add(new Problem(Anomaly.ORPHANED, who, "a " + copy.libvirtState() + " domain is left on " + host
              + ", which its status does not name; " + where));
        }
      });
    }
    fresh.forEach((host, sample) -> sample.ifPresent(s -> s.copies().values().stream()
        .filter(copy -> !uids.contains(copy.uid()))
        .forEach(copy -> problems.add(new Problem(copy.state() == State.PAUSED ? Anomaly.PAUSED : Anomaly.ORPHANED,
            names.describe(copy.uid()), "a " + copy.libvirtState() + " domain is left on " + host + " for a VM that no longer exists")))));
    problems.addAll(volumes(vms));
    return problems;
  }

  /** Volumes of the campaign's namespace in each node's pool that no VM says should be there. */
  private List<Problem> volumes(List<GenericKubernetesResource> vms) {
    List<Problem> problems = new ArrayList<>();
    String prefix = cluster.namespace() + "_";
    for (String node : nodes) {
      Set<String> expected = new HashSet<>();
      for (GenericKubernetesResource vm : vms) {
        if (node.equals(Cluster.nodeName(vm)) && !Cluster.deleting(vm)) {
          expected.add(volumeName(vm, "root"));
        }
      }
      try (Stream<Path> files = Files.list(poolDir.apply(node))) {
        files.map(p -> p.getFileName().toString()).filter(f -> f.startsWith(prefix)).filter(f -> !expected.contains(f)).sorted()
            .forEach(f -> problems.add(new Problem(Anomaly.ORPHANED, owner(f, vms), "volume " + f + " is left on " + node
                + " (" + whereOwnerRuns(f, vms) + ")")));
      } catch (IOException e) {
        problems.add(new Problem(Anomaly.ORPHANED, node, "cannot list the pool " + poolDir.apply(node) + ": " + e.getMessage()));
      }
    }
    return problems;
  }

  /** {@code <namespace>_<name>_<disk>-<uid8>}, the driver's volume name. */
  static String volumeName(GenericKubernetesResource vm, String disk) {
    return vm.getMetadata().getNamespace() + "_" + Cluster.name(vm) + "_" + disk + "-" + Cluster.uid(vm).substring(0, 8);
  }

  private String owner(String volume, List<GenericKubernetesResource> vms) {
    return vms.stream().filter(vm -> volume.equals(volumeName(vm, "root"))).findFirst()
        .map(vm -> names.describe(Cluster.uid(vm))).orElse(volume.substring(cluster.namespace().length() + 1));
  }

  private String whereOwnerRuns(String volume, List<GenericKubernetesResource> vms) {
    return vms.stream().filter(vm -> volume.equals(volumeName(vm, "root"))).findFirst()
        .map(vm -> "its VM's status names " + Cluster.nodeName(vm)).orElse("no VM of that name and uid exists");
  }

  private static String describe(Map<String, Copy> copies) {
    StringBuilder text = new StringBuilder();
    copies.forEach((host, copy) -> text.append(text.length() == 0 ? "" : ", ").append(host).append(' ')
        .append(copy.libvirtState().replace("VIR_DOMAIN_", "")));
    return text.toString();
  }
}
