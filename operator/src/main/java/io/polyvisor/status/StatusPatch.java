package io.polyvisor.status;

import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
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

  /**
   * Writes the status patch {@code control} carries now, as JOSDK would (server-side apply of the
   * status alone, under the controller's field manager), and lays the API server's answer over
   * the informer cache until the informer catches up: the next pass, often a millisecond later,
   * then reads the status it wrote instead of the one before it. JOSDK drops that answer when it
   * writes the patch itself, and a pass that reads its own placement back a moment too early
   * places the VM again, says so again and writes it again. JOSDK keeps the answer only while the
   * informer still holds the version {@code read} was, and drops it at the informer's next event
   * for the VM, whatever its version: what a pass reads is always an object the API server
   * stored, and at worst as old as the informer's copy, as before. (JOSDK's own
   * PrimaryUpdateAndCacheUtils adds an optimistic lock; this patch has none, as JOSDK's own
   * status patch had none, so that a claim annotation written meanwhile does not fail it.)
   *
   * @return the same control without the patch (written), with its reschedule
   */
  public static <T extends CustomResource<?, ?>> UpdateControl<T> writeAndCache(UpdateControl<T> control, T read, Context<T> context) {
    if (!control.isPatchStatus()) {
      return control;
    }
    T patch = control.getResource().orElseThrow();
    T stored = context.getClient().resource(patch).subresource("status").patch(new PatchContext.Builder()
        .withFieldManager(context.getControllerConfiguration().fieldManager())
        .withForce(true)
        .withPatchType(PatchType.SERVER_SIDE_APPLY)
        .build());
    context.eventSourceRetriever().getControllerEventSource().handleRecentResourceUpdate(ResourceID.fromResource(read), stored, read);
    UpdateControl<T> done = UpdateControl.noUpdate();
    return control.getScheduleDelay().map(done::rescheduleAfter).orElse(done);
  }
}
