package io.polyvisor.drain;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Which placeholders stay and which go, wherever the guest runs. */
class GuardPlanTest {

  @Test
  void aGuestWithoutAPlaceholderOnItsNodeGetsOne() {
    GuardPlan plan = GuardPlan.guestOn("a", true, List.of());

    assertThat(plan.create()).isTrue();
    assertThat(plan.release()).isEmpty();
  }

  @Test
  void theOneOnTheGuestsNodeStaysAndThoseOnOtherNodesGo() {
    Pod onA = pod("p1", "a", "2026-11-28T00:00:01Z", false);
    Pod onB = pod("p2", "b", "2026-11-28T00:00:00Z", false);

    GuardPlan plan = GuardPlan.guestOn("b", true, List.of(onA, onB));

    assertThat(plan.create()).isFalse();
    assertThat(plan.release()).containsExactly(onA);
  }

  @Test
  void theOldNodesPlaceholderWaitsUntilTheVmsStatusNamesTheNewNode() {
    Pod onA = pod("p1", "a", "2026-11-28T00:00:00Z", true);

    GuardPlan moved = GuardPlan.guestOn("b", false, List.of(onA));

    assertThat(moved.create()).isTrue();
    assertThat(moved.release()).isEmpty();
    assertThat(moved.releaseLater()).isTrue();
  }

  @Test
  void aTerminatingPlaceholderOnTheGuestsNodeCountsAndIsTheOneKept() {
    Pod evicted = pod("p2", "a", "2026-11-28T00:00:05Z", true);
    Pod older = pod("p1", "a", "2026-11-28T00:00:00Z", false);

    GuardPlan plan = GuardPlan.guestOn("a", true, List.of(older, evicted));

    assertThat(plan.create()).as("no second pod beside one a drain waits for").isFalse();
    assertThat(plan.release()).containsExactly(older);
  }

  @Test
  void ofTwoOnTheGuestsNodeTheOlderStays() {
    Pod older = pod("p1", "a", "2026-11-28T00:00:00Z", false);
    Pod newer = pod("p2", "a", "2026-11-28T00:00:09Z", false);

    assertThat(GuardPlan.guestOn("a", true, List.of(newer, older)).release()).containsExactly(newer);
  }

  @Test
  void aTerminatingPlaceholderOnANodeTheGuestLeftGoes() {
    Pod evicted = pod("p1", "a", "2026-11-28T00:00:00Z", true);

    GuardPlan plan = GuardPlan.guestOn("b", true, List.of(evicted));

    assertThat(plan.create()).isTrue();
    assertThat(plan.release()).containsExactly(evicted);
  }

  @Test
  void aGuestThatRunsNowhereKeepsNone() {
    Pod evicted = pod("p1", "a", "2026-11-28T00:00:00Z", true);
    Pod other = pod("p2", "b", "2026-11-28T00:00:00Z", false);

    GuardPlan plan = GuardPlan.guestNowhere(List.of(evicted, other));

    assertThat(plan.create()).isFalse();
    assertThat(plan.release()).containsExactly(evicted, other);
  }

  private static Pod pod(String name, String node, String created, boolean terminating) {
    return new PodBuilder()
        .withNewMetadata().withName(name).withCreationTimestamp(created)
        .withDeletionTimestamp(terminating ? "2026-11-28T00:01:00Z" : null).endMetadata()
        .withNewSpec().withNodeName(node).endSpec()
        .build();
  }
}
