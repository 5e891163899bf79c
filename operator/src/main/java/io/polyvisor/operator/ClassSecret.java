package io.polyvisor.operator;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HostUnreachableException;
import io.polyvisor.driver.HypervisorException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.Optional;

/**
 * The Secret a HypervisorClass names in {@code connection.credentialsSecretRef}, read when a
 * driver needs it. Errors name the Secret and the keys it must hold, never a value.
 */
final class ClassSecret {

  private final Host.SecretName name;
  private final Map<String, String> data;

  private ClassSecret(Host.SecretName name, Map<String, String> data) {
    this.name = name;
    this.data = data;
  }

  /**
   * @param needs what the driver needs it for and the keys it must hold, for the errors ("WinRM
   *     needs a Secret with the keys username and password")
   */
  static ClassSecret read(KubernetesClient client, Host host, String needs) {
    Host.SecretName name = host.credentials().orElseThrow(() -> new HypervisorException("NO_CREDENTIALS",
        "the HypervisorClass of " + host.nodeName() + " names no connection.credentialsSecretRef; " + needs));
    Secret secret;
    try {
      secret = client.secrets().inNamespace(name.namespace()).withName(name.name()).get();
    } catch (KubernetesClientException e) {
      if (e.getCode() == 401 || e.getCode() == 403) {
        throw new HypervisorException("NO_CREDENTIALS", "cannot read Secret " + name + ": " + e.getMessage() + " (the operator may"
            + " read Secrets only in the namespace its chart's credentialsNamespace names: put the Secret there)", e);
      }
      // The API server did not answer (a restart, say): the host is as unknown as if it did not answer.
      throw new HostUnreachableException("CREDENTIALS_UNREADABLE", "cannot read Secret " + name + " now: " + e.getMessage(), e);
    }
    if (secret == null) {
      throw new HypervisorException("NO_CREDENTIALS", "Secret " + name + " does not exist; create it: " + needs);
    }
    return new ClassSecret(name, secret.getData() == null ? Map.of() : secret.getData());
  }

  Host.SecretName name() {
    return name;
  }

  Optional<String> get(String key) {
    return Optional.ofNullable(data.get(key)).map(v -> new String(Base64.getDecoder().decode(v), StandardCharsets.UTF_8));
  }

  String require(String key) {
    return get(key).orElseThrow(() -> new HypervisorException("NO_CREDENTIALS", "Secret " + name + " has no key " + key + "; add it"));
  }
}
