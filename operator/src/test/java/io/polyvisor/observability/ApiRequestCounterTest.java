package io.polyvisor.observability;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ApiRequestCounterTest {

  @Test
  void namesTheResourceAndItsSubresourceWhateverTheGroupAndScope() {
    assertThat(ApiRequestCounter.resourceOf("/apis/polyvisor.io/v1alpha1/namespaces/ns/virtualmachines/vm-1/status"))
        .isEqualTo("virtualmachines/status");
    assertThat(ApiRequestCounter.resourceOf("/apis/polyvisor.io/v1alpha1/namespaces/ns/virtualmachines/vm-1"))
        .isEqualTo("virtualmachines");
    assertThat(ApiRequestCounter.resourceOf("/apis/polyvisor.io/v1alpha1/virtualmachinemigrations")).isEqualTo("virtualmachinemigrations");
    assertThat(ApiRequestCounter.resourceOf("/api/v1/namespaces/ns/events")).isEqualTo("events");
    assertThat(ApiRequestCounter.resourceOf("/api/v1/namespaces/ns/pods/p/eviction")).isEqualTo("pods/eviction");
    assertThat(ApiRequestCounter.resourceOf("/api/v1/nodes/kvm-1")).isEqualTo("nodes");
    assertThat(ApiRequestCounter.resourceOf("/api/v1/namespaces/ns")).isEqualTo("namespaces");
    assertThat(ApiRequestCounter.resourceOf("/apis/coordination.k8s.io/v1/namespaces/ns/leases/polyvisor"))
        .isEqualTo("leases");
  }

  @Test
  void aPathOutsideTheResourceApiIsItsOwnName() {
    assertThat(ApiRequestCounter.resourceOf("/version")).isEqualTo("/version");
    assertThat(ApiRequestCounter.resourceOf("/readyz")).isEqualTo("/readyz");
  }
}
