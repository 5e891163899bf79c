package io.polyvisor.api.v1alpha1;

/** Names shared by every kind of the API group. */
public final class ApiGroup {
  public static final String GROUP = "polyvisor.io";
  public static final String VERSION = "v1alpha1";
  public static final String CATEGORY = "polyvisor";

  /** A node annotation that overrides the endpoint its hypervisor class would compute. */
  public static final String ENDPOINT_ANNOTATION = GROUP + "/endpoint";

  private ApiGroup() {}
}
