package io.polyvisor.drain;

import io.polyvisor.api.v1alpha1.VirtualMachine;

/**
 * Makes {@code kubectl drain} wait for a VM to leave its node. VMs are not pods, so drain would
 * otherwise report a node empty while guests still run there; a placeholder pod per VM, on the
 * node where its guest runs and held by a finalizer until the guest has gone, is what drain evicts
 * and waits for.
 */
public interface DrainGuard {

  /**
   * The VM's guest runs on {@code node}: one placeholder there, none anywhere else. Those on
   * other nodes are kept while the VM's status still names another node; false then, and the
   * caller records the new node and calls again.
   */
  boolean guardOn(VirtualMachine vm, String node);

  /** The VM's guest runs nowhere (stopped, gone, or the VM deleted): no placeholder at all. */
  void releaseAll(VirtualMachine vm);

  /** For reconcilers run without a cluster (unit tests): guards nothing. */
  DrainGuard NONE = new DrainGuard() {
    @Override
    public boolean guardOn(VirtualMachine vm, String node) {
      return true;
    }

    @Override
    public void releaseAll(VirtualMachine vm) {}
  };
}
