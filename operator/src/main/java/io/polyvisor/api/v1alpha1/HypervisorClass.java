package io.polyvisor.api.v1alpha1;

import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * A kind of hypervisor host, like a StorageClass for disks: which driver talks to it, which nodes
 * serve it, how to reach them, how far their memory may be overcommitted and how VMs migrate
 * between them. Cluster-scoped, so it does not implement {@code Namespaced}.
 */
@Group(ApiGroup.GROUP)
@Version(ApiGroup.VERSION)
@ShortNames("hvc")
@Categories(ApiGroup.CATEGORY)
public class HypervisorClass extends CustomResource<HypervisorClassSpec, Void> {

  @Override
  protected HypervisorClassSpec initSpec() {
    return new HypervisorClassSpec();
  }
}
