package io.polyvisor.vm;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.testing.RealApiServer;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Events said again are counted on the one already written, against a real API server. */
class EventRecorderIT {

  private final KubernetesClient client = RealApiServer.client();
  private final String namespace = RealApiServer.newNamespace("events");
  private final EventRecorder events = new EventRecorder(client);

  @Test
  void theSameEventSaidAgainBumpsItsCountAndAnotherMessageIsAnotherEvent() throws Exception {
    ConfigMap subject = client.configMaps().inNamespace(namespace)
        .resource(new ConfigMapBuilder().withNewMetadata().withName("subject").endMetadata().build()).create();

    events.warning(subject, "CleanupBlocked", "cannot reach kvm-1");
    Thread.sleep(1100); // whole seconds: the last timestamp must move
    events.warning(subject, "CleanupBlocked", "cannot reach kvm-1");
    events.warning(subject, "CleanupBlocked", "cannot reach kvm-1");
    events.warning(subject, "CleanupBlocked", "cannot reach kvm-2");
    events.normal(subject, "CleanupBlocked", "cannot reach kvm-1");

    List<Event> written = eventsOf(subject);
    assertThat(written).hasSize(3);
    Event repeated = only(written, "Warning", "cannot reach kvm-1");
    assertThat(repeated.getCount()).isEqualTo(3);
    assertThat(Instant.parse(repeated.getLastTimestamp())).isAfter(Instant.parse(repeated.getFirstTimestamp()));
    assertThat(only(written, "Warning", "cannot reach kvm-2").getCount()).isEqualTo(1);
    assertThat(only(written, "Normal", "cannot reach kvm-1").getCount()).isEqualTo(1);

    // An Event that expired (or was deleted) is written anew.
    client.resource(repeated).delete();
    events.warning(subject, "CleanupBlocked", "cannot reach kvm-1");
    assertThat(only(eventsOf(subject), "Warning", "cannot reach kvm-1").getCount()).isEqualTo(1);
  }

  private List<Event> eventsOf(ConfigMap subject) {
    return client.v1().events().inNamespace(namespace).list().getItems().stream()
        .filter(e -> subject.getMetadata().getUid().equals(e.getInvolvedObject().getUid()))
        .toList();
  }

  private static Event only(List<Event> events, String type, String message) {
    List<Event> matching = events.stream().filter(e -> type.equals(e.getType()) && message.equals(e.getMessage())).toList();
    assertThat(matching).as("%s events saying %s", type, message).hasSize(1);
    return matching.get(0);
  }
}
