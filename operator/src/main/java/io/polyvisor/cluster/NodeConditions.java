package io.polyvisor.cluster;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.NodeConditionBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** The operator's own conditions on Nodes (polyvisor.io/Evacuation, polyvisor.io/Rebalancing). */
public final class NodeConditions {

  private NodeConditions() {}

  public static Optional<NodeCondition> find(Node node, String type) {
    return node.getStatus() == null || node.getStatus().getConditions() == null ? Optional.empty()
        : node.getStatus().getConditions().stream().filter(c -> type.equals(c.getType())).findFirst();
  }

  /**
   * Merges the condition into the node's (strategic merge on type), leaving the others alone; its
   * transition time moves only when its status changes.
   */
  public static void set(KubernetesClient client, Node node, String type, String status, String reason, String message, Instant now) {
    String stamp = DateTimeFormatter.ISO_INSTANT.format(now.truncatedTo(ChronoUnit.SECONDS));
    String transition = find(node, type).filter(c -> status.equals(c.getStatus())).map(NodeCondition::getLastTransitionTime).orElse(stamp);
    NodeCondition condition = new NodeConditionBuilder().withType(type).withStatus(status).withReason(reason)
        .withMessage(message).withLastTransitionTime(transition).withLastHeartbeatTime(stamp).build();
    String patch = Serialization.asJson(Map.of("status", Map.of("conditions", List.of(condition))));
    client.nodes().withName(node.getMetadata().getName()).subresource("status").patch(PatchContext.of(PatchType.STRATEGIC_MERGE), patch);
  }
}
