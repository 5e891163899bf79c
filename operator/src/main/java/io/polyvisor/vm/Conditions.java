package io.polyvisor.vm;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Optional;

/**
 * Kubernetes-style conditions: one per type, {@code lastTransitionTime} moved only when the status
 * really changes, {@code observedGeneration} always the generation just reconciled.
 */
public final class Conditions {

  private Conditions() {}

  /** Sets a condition in place; returns whether its status changed (a transition). */
  public static boolean set(
      List<Condition> conditions, String type, String status, String reason, String message, Long generation, Instant now) {
    Optional<Condition> existing = find(conditions, type);
    boolean transition = existing.map(c -> !status.equals(c.getStatus())).orElse(true);
    String transitionTime =
        transition ? DateTimeFormatter.ISO_INSTANT.format(now.truncatedTo(ChronoUnit.SECONDS)) : existing.get().getLastTransitionTime();
    Condition updated =
        new ConditionBuilder()
            .withType(type)
            .withStatus(status)
            .withReason(reason)
            .withMessage(message)
            .withObservedGeneration(generation)
            .withLastTransitionTime(transitionTime)
            .build();
    existing.ifPresentOrElse(c -> conditions.set(conditions.indexOf(c), updated), () -> conditions.add(updated));
    return transition;
  }

  public static Optional<Condition> find(List<Condition> conditions, String type) {
    return conditions.stream().filter(c -> type.equals(c.getType())).findFirst();
  }

  public static boolean isTrue(List<Condition> conditions, String type) {
    return find(conditions, type).map(c -> "True".equals(c.getStatus())).orElse(false);
  }

  /** When the condition last changed status, if it exists. */
  public static Optional<Instant> since(List<Condition> conditions, String type) {
    return find(conditions, type).map(Condition::getLastTransitionTime).filter(t -> t != null && !t.isEmpty()).map(Instant::parse);
  }

  public static String status(boolean value) {
    return value ? "True" : "False";
  }
}
