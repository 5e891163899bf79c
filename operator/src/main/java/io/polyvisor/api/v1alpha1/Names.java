package io.polyvisor.api.v1alpha1;

/** The Kubernetes name formats, as schema patterns. */
final class Names {
  /** RFC 1123 label: what Kubernetes accepts as a namespace, and what we accept as a disk name. */
  static final String DNS_LABEL = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";

  /** RFC 1123 subdomain: what Kubernetes accepts as most object names. */
  static final String DNS_SUBDOMAIN =
      "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

  /**
   * Longest quantity string accepted. CEL rules cost in proportion to string length, and the API
   * server refuses rules whose worst case it cannot bound; no real size needs more than this.
   */
  static final int QUANTITY_MAX_LENGTH = 32;

  private Names() {}
}
