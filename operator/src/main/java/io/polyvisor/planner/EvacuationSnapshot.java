package io.polyvisor.planner;

import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachineMigration;
import io.polyvisor.cluster.HypervisorNode;
import java.time.Instant;
import java.util.List;

/**
 * Everything an evacuation decision reads, gathered by its caller at one moment.
 *
 * @param node the node being emptied (or, for a drain plan, that would be)
 * @param nodes every node of the class
 * @param vms every VirtualMachine of the cluster, of any class: all of them commit room on their nodes
 * @param migrations every VirtualMachineMigration of the cluster, finished ones included
 * @param since when the node was cordoned; only evacuation migrations created since then count
 */
public record EvacuationSnapshot(
    String node,
    HypervisorClass hypervisorClass,
    List<HypervisorNode> nodes,
    List<VirtualMachine> vms,
    List<VirtualMachineMigration> migrations,
    Instant since,
    Instant now) {}
