package io.polyvisor.vm;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.ObjectReferenceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Emits core/v1 Events about an object, as {@code kubectl describe} shows them. Like Kubernetes'
 * own recorder, an Event said again (same object, type, reason and message) bumps the count and
 * last timestamp of the one already written instead of adding another, so a condition that lasts
 * (a host that stays unreachable) is one line with a count, not one Event per pass. Two threads
 * saying the same Event at the same instant may count it once: a count is information too.
 */
public class EventRecorder {

  private static final Logger log = LoggerFactory.getLogger(EventRecorder.class);
  private static final String COMPONENT = "polyvisor";
  /** As many distinct Events as Kubernetes' recorder remembers; the least recently said go first. */
  private static final int REMEMBERED = 4096;

  private final KubernetesClient client;
  private final Map<Said, Written> written = Collections.synchronizedMap(new LinkedHashMap<>(64, 0.75f, true) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<Said, Written> eldest) {
      return size() > REMEMBERED;
    }
  });

  /** What makes two Events the same one. */
  private record Said(String namespace, String kind, String name, String uid, String type, String reason, String message) {}

  /** The Event written for it, and its count so far. */
  private record Written(String name, int count) {}

  public EventRecorder(KubernetesClient client) {
    this.client = client;
  }

  public void normal(HasMetadata object, String reason, String message) {
    emit(object, "Normal", reason, message);
  }

  public void warning(HasMetadata object, String reason, String message) {
    emit(object, "Warning", reason, message);
  }

  /** Records one event; overridden by tests that only look at what was said. */
  protected void emit(HasMetadata object, String type, String reason, String message) {
    String now = DateTimeFormatter.ISO_INSTANT.format(Instant.now().truncatedTo(ChronoUnit.SECONDS));
    String namespace = object.getMetadata().getNamespace() == null ? "default" : object.getMetadata().getNamespace();
    Said said = new Said(namespace, object.getKind(), object.getMetadata().getName(), object.getMetadata().getUid(), type, reason,
        message);
    try {
      Written before = written.get(said);
      if (before != null && again(namespace, before, now)) {
        written.put(said, new Written(before.name(), before.count() + 1));
        return;
      }
      Event created = client.v1().events().inNamespace(namespace).resource(event(object, namespace, type, reason, message, now)).create();
      written.put(said, new Written(created.getMetadata().getName(), 1));
    } catch (KubernetesClientException e) {
      // An Event is information, never a reason to fail a reconciliation. Forgotten, so that the
      // next time it is said it is written anew rather than patched in vain.
      written.remove(said);
      log.warn("cannot record event {} on {}: {}", reason, object.getMetadata().getName(), e.getMessage());
    }
  }

  /** Bumps the Event already written; false when it is gone (Events expire), so that it is written anew. */
  private boolean again(String namespace, Written before, String now) {
    try {
      client.v1().events().inNamespace(namespace).withName(before.name()).patch(PatchContext.of(PatchType.JSON_MERGE),
          "{\"count\":" + (before.count() + 1) + ",\"lastTimestamp\":\"" + now + "\"}");
      return true;
    } catch (KubernetesClientException e) {
      if (e.getCode() == 404) {
        return false;
      }
      throw e;
    }
  }

  private static Event event(HasMetadata object, String namespace, String type, String reason, String message, String now) {
    return new EventBuilder()
        .withNewMetadata()
        .withGenerateName(object.getMetadata().getName() + ".")
        .withNamespace(namespace)
        .endMetadata()
        .withInvolvedObject(
            new ObjectReferenceBuilder()
                .withApiVersion(object.getApiVersion())
                .withKind(object.getKind())
                .withName(object.getMetadata().getName())
                .withNamespace(object.getMetadata().getNamespace())
                .withUid(object.getMetadata().getUid())
                .build())
        .withType(type)
        .withReason(reason)
        .withMessage(message)
        .withFirstTimestamp(now)
        .withLastTimestamp(now)
        .withCount(1)
        .withNewSource(COMPONENT, null)
        .withReportingComponent(COMPONENT)
        .build();
  }
}
