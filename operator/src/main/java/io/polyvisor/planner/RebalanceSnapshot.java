package io.polyvisor.planner;

import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.cluster.HypervisorNode;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What a rebalancing pass reads, gathered at one moment: the class (with its rebalancing policy),
 * its nodes, every VM and every migration of the cluster.
 *
 * @param relieving the nodes being relieved already (their polyvisor.io/Rebalancing condition is
 *     True): they go on down to the watermark, under their threshold too
 * @param cpuUse what each guest was measured to use of its host's CPUs, in millicpu, by VM uid
 *     (absent: not measured, which counts as 0)
 */
public record RebalanceSnapshot(
    HypervisorClass hypervisorClass,
    List<HypervisorNode> nodes,
    List<VirtualMachine> vms,
    List<VirtualMachineMigration> migrations,
    Set<String> relieving,
    Map<String, Long> cpuUse,
    Instant now) {}
