package io.polyvisor.migration;

import io.polyvisor.api.v1alpha1.ApiGroup;

/** Labels and annotations that tie migrations to VMs, nodes and requests to cancel. */
public final class MigrationLabels {

  /** On every migration: the VM's name, so a VM's migrations can be listed by label. */
  public static final String VM = ApiGroup.GROUP + "/vm";
  /**
   * On every migration once it is bound to its VM: the VM's uid. A VM deleted and re-created under
   * the same name has another uid, so an old migration never acts on the new VM.
   */
  public static final String VM_UID = ApiGroup.GROUP + "/vm-uid";
  /** On migrations the evacuation controller creates: the node being emptied. */
  public static final String EVACUATED_NODE = ApiGroup.GROUP + "/evacuated-node";
  /** On migrations the rebalancer creates: the overloaded node being relieved. */
  public static final String REBALANCED_NODE = ApiGroup.GROUP + "/rebalanced-node";
  /** Set (to the reason) on a migration that should stop: queued ones end Aborted, running ones are aborted. */
  public static final String CANCEL = ApiGroup.GROUP + "/cancel";

  /**
   * Set (to the reason) on a migration that ended needing a person: what the hosts hold cannot be
   * resolved safely by the operator, so the VM's own reconciler leaves the guest alone (it starts,
   * stops and removes nothing) until a person has looked and removes this annotation.
   */
  public static final String HOLD = ApiGroup.GROUP + "/hold";

  private MigrationLabels() {}
}
