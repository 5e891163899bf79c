package io.polyvisor.planner;

import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.migration.MigrationLabels;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Whether a VM whose evacuation migrations from a cordoned node failed may be tried again now. The
 * first retry comes {@link #FIRST_RETRY} after the failure, each further consecutive failure
 * (Failed or Aborted, since the node was cordoned, with no success in between) doubles the wait,
 * up to {@link #LONGEST_WAIT}. A VM whose last {@link #BLOCKED_AFTER} failures gave the same
 * message keeps failing for one reason: it is reported as blocking, and still retried.
 */
final class EvacuationRetry {

  static final Duration FIRST_RETRY = Duration.ofSeconds(20);
  static final Duration LONGEST_WAIT = Duration.ofMinutes(5);
  static final int BLOCKED_AFTER = 3;

  private EvacuationRetry() {}

  /** What to do with one VM. */
  sealed interface Decision permits Go, Wait {}

  /** Nothing failed lately, or the wait is over: a migration may be created. */
  record Go() implements Decision {}

  /**
   * Not before {@code retryAt}.
   *
   * @param failures how many migrations failed in a row, up to now
   * @param repeated how many of the newest failures gave one message, when at least
   *     {@link #BLOCKED_AFTER} did
   */
  record Wait(Instant retryAt, int failures, Optional<Repeated> repeated) implements Decision {

    /** Why the VM blocks the evacuation, as the node condition says it. */
    Optional<String> blocking(Instant now) {
      return repeated.map(r -> r.count() + " moves failed: " + r.message() + "; next try in " + secondsUntil(now) + " s");
    }

    private long secondsUntil(Instant now) {
      long millis = Math.max(0, Duration.between(now, retryAt).toMillis());
      return (millis + 999) / 1000;
    }
  }

  /** The newest failures that gave one message. */
  record Repeated(int count, String message) {}

  /**
   * @param migrations the VM's migrations (any node, any reason: those that are not evacuations
   *     from {@code node} created since {@code cordoned} are ignored); the caller has checked that
   *     none is active
   */
  static Decision decide(List<VirtualMachineMigration> migrations, String node, Instant cordoned, Instant now) {
    List<VirtualMachineMigration> finished = migrations.stream()
        .filter(m -> m.getMetadata().getLabels() != null && node.equals(m.getMetadata().getLabels().get(MigrationLabels.EVACUATED_NODE)))
        .filter(m -> m.getMetadata().getCreationTimestamp() == null
            || !Instant.parse(m.getMetadata().getCreationTimestamp()).isBefore(cordoned.minusSeconds(1)))
        .filter(m -> m.getStatus() != null && m.getStatus().phase != null && m.getStatus().phase.isFinal())
        .sorted(Comparator.comparing(EvacuationRetry::ended, Comparator.nullsFirst(Comparator.naturalOrder())).reversed())
        .toList();
    int failures = 0;
    while (failures < finished.size() && failed(finished.get(failures))) {
      failures++;
    }
    if (failures == 0) {
      return new Go();
    }
    Instant last = ended(finished.get(0));
    if (last == null) {
      return new Go(); // a failure of unknown time: nothing to wait from
    }
    Instant retryAt = last.plus(delayAfter(failures));
    if (!now.isBefore(retryAt)) {
      return new Go();
    }
    String message = finished.get(0).getStatus().message;
    int same = 1;
    while (same < failures && Objects.equals(message, finished.get(same).getStatus().message)) {
      same++;
    }
    Optional<Repeated> repeated = same >= BLOCKED_AFTER
        ? Optional.of(new Repeated(same, message == null || message.isBlank() ? "no message" : message))
        : Optional.empty();
    return new Wait(retryAt, failures, repeated);
  }

  /** How long to wait after the {@code failures}-th consecutive failure. */
  static Duration delayAfter(int failures) {
    if (failures <= 0) {
      return Duration.ZERO;
    }
    // 20 s doubled 4 times already passes 5 min: no need to shift further (and overflow).
    Duration delay = FIRST_RETRY.multipliedBy(1L << Math.min(failures - 1, 10));
    return delay.compareTo(LONGEST_WAIT) > 0 ? LONGEST_WAIT : delay;
  }

  private static boolean failed(VirtualMachineMigration m) {
    return m.getStatus().phase == MigrationPhase.Failed || m.getStatus().phase == MigrationPhase.Aborted;
  }

  /** When it ended: the completion time the migration controller writes, else its creation. */
  private static Instant ended(VirtualMachineMigration m) {
    String at = m.getStatus().completionTime != null ? m.getStatus().completionTime : m.getMetadata().getCreationTimestamp();
    return at == null ? null : Instant.parse(at);
  }
}
