package io.polyvisor.planner;

import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.cluster.HypervisorNode;
import java.time.Instant;
import java.util.List;

/**
 * What a rebalancing pass reads, gathered at one moment: the class (with its rebalancing policy),
 * its nodes, every VM and every migration of the cluster.
 */
public record RebalanceSnapshot(
    HypervisorClass hypervisorClass,
    List<HypervisorNode> nodes,
    List<VirtualMachine> vms,
    List<VirtualMachineMigration> migrations,
    Instant now) {}
