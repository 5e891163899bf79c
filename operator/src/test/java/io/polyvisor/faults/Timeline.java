package io.polyvisor.faults;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The Kubernetes side of the timeline, from informers of the test's own client: every change of
 * a VM's phase or node, every phase of every migration (and what it said), every Event in the
 * namespace. It also remembers each migration's VM incarnation and outcome, which the counter
 * check needs (a Restart move that succeeded reboots its guest once, legitimately).
 */
final class Timeline implements AutoCloseable {

  /** What the campaign knows of one migration; fields change as the informer reports. */
  static final class Migration {
    final String name;
    final String vm;
    volatile String vmUid;
    final String method;
    final String reason;
    volatile String phase;
    volatile String source;
    volatile String target;
    volatile boolean postCopy;
    volatile String message;
    volatile boolean deleted;

    Migration(String name, String vm, String vmUid, String method, String reason) {
      this.name = name;
      this.vm = vm;
      this.vmUid = vmUid;
      this.method = method;
      this.reason = reason;
    }

    boolean active() {
      return !deleted && !Cluster.finalPhase(phase);
    }
  }

  private final Cluster cluster;
  private final CampaignLog log;
  private final Names names;
  private final Map<String, Migration> migrations = new ConcurrentHashMap<>();
  private final Map<String, String> vmStates = new ConcurrentHashMap<>();
  private final Map<String, Integer> eventCounts = new ConcurrentHashMap<>();
  private final List<SharedIndexInformer<?>> informers = new ArrayList<>();

  private final java.util.Set<String> nodes;

  Timeline(Cluster cluster, CampaignLog log, Names names, java.util.Set<String> nodes) {
    this.cluster = cluster;
    this.log = log;
    this.names = names;
    this.nodes = nodes;
  }

  void start() {
    informers.add(cluster.vmApi().inform(handler(this::vmChanged, this::vmDeleted)));
    informers.add(cluster.migrationApi().inform(handler(this::migrationChanged, this::migrationDeleted)));
    informers.add(cluster.client().v1().events().inNamespace(cluster.namespace()).inform(handler(this::event, e -> { })));
    // Events about Nodes (the evacuation's) go to the default namespace.
    informers.add(cluster.client().v1().events().inNamespace("default").inform(handler(e -> {
      if ("Node".equals(e.getInvolvedObject().getKind()) && nodes.contains(e.getInvolvedObject().getName())) {
        event(e);
      }
    }, e -> { })));
  }

  /** The migration {@code name} was created by the campaign for the VM incarnation {@code uid}. */
  void created(String name, String uid) {
    Migration m = migrations.get(name);
    if (m != null && m.vmUid == null) {
      m.vmUid = uid;
    }
    pendingUids.put(name, uid);
  }

  private final Map<String, String> pendingUids = new ConcurrentHashMap<>();

  List<Migration> migrations() {
    return new ArrayList<>(migrations.values());
  }

  List<Migration> active() {
    return migrations.values().stream().filter(Migration::active).toList();
  }

  /** Restart moves of the VM incarnation that ended Succeeded: each legitimately booted it again. */
  long succeededRestarts(String uid) {
    return migrations.values().stream()
        .filter(m -> uid.equals(m.vmUid) && "Restart".equals(m.method) && "Succeeded".equals(m.phase)).count();
  }

  /** Restart moves of the incarnation that got to Running but did not succeed (for the log). */
  List<String> unfinishedRestarts(String uid) {
    return migrations.values().stream()
        .filter(m -> uid.equals(m.vmUid) && "Restart".equals(m.method) && !"Succeeded".equals(m.phase) && m.source != null)
        .map(m -> m.name + " (" + (m.deleted ? "deleted in " : "") + m.phase + ")").toList();
  }

  private void vmChanged(GenericKubernetesResource vm) {
    String uid = Cluster.uid(vm);
    names.put(uid, Cluster.name(vm));
    String ready = readyCondition(vm);
    String state = Cluster.phase(vm) + " on " + Cluster.nodeName(vm) + (ready == null ? "" : ", " + ready)
        + (Cluster.deleting(vm) ? ", being deleted" : "");
    String was = vmStates.put(uid, state);
    if (!state.equals(was)) {
      log.note("vm " + names.describe(uid) + ": " + state);
    }
  }

  private void vmDeleted(GenericKubernetesResource vm) {
    vmStates.remove(Cluster.uid(vm));
    log.note("vm " + names.describe(Cluster.uid(vm)) + ": deleted");
  }

  @SuppressWarnings("unchecked")
  private static String readyCondition(GenericKubernetesResource vm) {
    Object conditions = vm.get("status", "conditions");
    if (!(conditions instanceof List<?> list)) {
      return null;
    }
    for (Object c : list) {
      if (c instanceof Map<?, ?> map && "Ready".equals(map.get("type"))) {
        // Why it is not ready is what an engineer reading the log needs most.
        Object message = "True".equals(map.get("status")) ? null : map.get("message");
        return "Ready=" + map.get("status") + (map.get("reason") == null ? "" : " " + map.get("reason"))
            + (message == null ? "" : " (" + message + ")");
      }
    }
    return null;
  }

  private void migrationChanged(GenericKubernetesResource r) {
    String name = Cluster.name(r);
    Map<String, String> labels = r.getMetadata().getLabels() == null ? Map.of() : r.getMetadata().getLabels();
    Migration m = migrations.computeIfAbsent(name, n -> {
      String vm = Cluster.text(r, "spec", "vmName");
      String uid = labels.get("polyvisor.io/vm-uid");
      if (uid == null) {
        uid = pendingUids.get(n);
      }
      if (uid == null) {
        uid = names.uidOf(vm);
      }
      Migration created = new Migration(n, vm, uid, Objects.requireNonNullElse(Cluster.text(r, "spec", "method"), "Live"),
          Objects.requireNonNullElse(Cluster.text(r, "spec", "reason"), "Manual"));
      String evacuated = labels.get("polyvisor.io/evacuated-node");
      log.note("migration " + n + ": created, " + created.method + " move of " + vm
          + (Cluster.text(r, "spec", "targetNode") == null ? "" : " to " + Cluster.text(r, "spec", "targetNode"))
          + " (" + created.reason + (evacuated == null ? "" : " of " + evacuated) + ")");
      return created;
    });
    if (labels.get("polyvisor.io/vm-uid") != null) {
      m.vmUid = labels.get("polyvisor.io/vm-uid");
    }
    String phase = Cluster.phase(r);
    String source = Cluster.text(r, "status", "sourceNode");
    String target = Cluster.text(r, "status", "targetNode");
    boolean postCopy = "true".equals(Cluster.text(r, "status", "postCopy"));
    String message = Cluster.text(r, "status", "message");
    boolean changed = !Objects.equals(phase, m.phase) || !Objects.equals(source, m.source) || !Objects.equals(target, m.target)
        || postCopy != m.postCopy || (Cluster.finalPhase(phase) && !Objects.equals(message, m.message));
    m.phase = phase;
    m.source = source;
    m.target = target;
    m.postCopy = postCopy;
    m.message = message;
    if (changed && phase != null) {
      log.note("migration " + name + ": " + phase + " " + source + " -> " + target + (postCopy ? " (post-copy)" : "")
          + (message == null ? "" : ": " + message));
    }
  }

  private void migrationDeleted(GenericKubernetesResource r) {
    Migration m = migrations.get(Cluster.name(r));
    if (m != null) {
      m.deleted = true;
      log.note("migration " + m.name + ": deleted (last phase " + m.phase + ")");
    }
  }

  private void event(Event e) {
    String key = e.getMetadata().getName();
    int count = e.getCount() == null ? 1 : e.getCount();
    Integer was = eventCounts.put(key, count);
    if (was != null && was == count) {
      return;
    }
    if (was != null && count > 3 && count % 10 != 0) {
      return;
    }
    log.note("event " + e.getType() + " " + e.getReason() + " " + e.getInvolvedObject().getKind() + "/"
        + e.getInvolvedObject().getName() + ": " + e.getMessage() + (count > 1 ? " (x" + count + ")" : ""));
  }

  private static <T> ResourceEventHandler<T> handler(java.util.function.Consumer<T> changed, java.util.function.Consumer<T> deleted) {
    return new ResourceEventHandler<>() {
      @Override
      public void onAdd(T obj) {
        changed.accept(obj);
      }

      @Override
      public void onUpdate(T oldObj, T newObj) {
        changed.accept(newObj);
      }

      @Override
      public void onDelete(T obj, boolean deletedFinalStateUnknown) {
        deleted.accept(obj);
      }
    };
  }

  @Override
  public void close() {
    informers.forEach(SharedIndexInformer::close);
  }
}
