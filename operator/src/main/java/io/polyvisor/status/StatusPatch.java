package io.polyvisor.status;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import java.time.Duration;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Status written the way every reconciler here writes it: only when it differs from what was
 * read (no churn, no needless events), as a server-side-apply patch of the status alone.
 */
public final class StatusPatch {

  private StatusPatch() {}

  /**
   * @param before the status as read, serialized
   * @param empty makes a new, empty resource of the same kind to carry the patch
   * @param again when to reconcile again, if at all
   */
  public static <S, T extends CustomResource<?, S>> UpdateControl<T> ifChanged(
      T resource, S status, String before, Supplier<T> empty, Optional<Duration> again) {
    UpdateControl<T> control;
    if (Serialization.asJson(status).equals(before)) {
      control = UpdateControl.noUpdate();
    } else {
      T patch = empty.get();
      patch.setMetadata(new ObjectMetaBuilder()
          .withName(resource.getMetadata().getName())
          .withNamespace(resource.getMetadata().getNamespace())
          .build());
      patch.setStatus(status);
      control = UpdateControl.patchStatus(patch);
    }
    return again.map(d -> control.rescheduleAfter(d.toMillis())).orElse(control);
  }
}
