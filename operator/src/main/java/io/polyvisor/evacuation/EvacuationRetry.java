package io.polyvisor.evacuation;

import io.polyvisor.api.v1alpha1.MigrationPhase;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.migration.MigrationLabels;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;

/**
 * Whether a VM whose evacuation migrations from a cordoned node failed may be tried again now. The
 * first retry comes {@link #FIRST_RETRY} after the failure, each further consecutive failure
 * (Failed or Aborted, since the node was cordoned, with no success in between) doubles the wait,
 * up to {@link #LONGEST_WAIT}.
 */
final class EvacuationRetry {

  static final Duration FIRST_RETRY = Duration.ofSeconds(20);
  static final Duration LONGEST_WAIT = Duration.ofMinutes(5);

  private EvacuationRetry() {}

  /** What to do with one VM. */
  sealed interface Decision permits Go, Wait {}

  /** Nothing failed lately, or the wait is over: a migration may be created. */
  record Go() implements Decision {}

  /**
   * Not before {@code retryAt}.
   *
   * @param failures how many migrations failed in a row, up to now
   */
  record Wait(Instant retryAt, int failures) implements Decision {}

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
    return new Wait(retryAt, failures);
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
