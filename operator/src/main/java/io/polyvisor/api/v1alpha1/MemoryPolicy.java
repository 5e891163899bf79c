package io.polyvisor.api.v1alpha1;

/** How the hypervisor sizes a guest's memory. */
public enum MemoryPolicy {
  /** A fixed amount, reserved while the guest runs. */
  Static,
  /**
   * Grows and shrinks between a minimum and a maximum with the guest's demand: Hyper-V Dynamic
   * Memory, or a virtio balloon driven by the operator on KVM.
   */
  Dynamic
}
