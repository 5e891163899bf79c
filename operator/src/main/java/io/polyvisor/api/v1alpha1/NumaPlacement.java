package io.polyvisor.api.v1alpha1;

/** How strictly a guest's memory is kept on the host NUMA node(s) of its vCPUs. */
public enum NumaPlacement {
  /** Let the host place memory anywhere. */
  None,
  /** Prefer local memory, fall back to remote memory when the local node is full. */
  Preferred,
  /** Only local memory; the guest fails to start rather than span NUMA nodes. */
  Strict
}
