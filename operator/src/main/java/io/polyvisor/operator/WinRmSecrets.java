package io.polyvisor.operator;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.driver.hyperv.winrm.WinRmCredentials;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * WinRM logons from the Secret a HypervisorClass names: keys {@code username} and {@code password},
 * and optionally {@code ca.crt}, the PEM CA that signed the hosts' WinRM certificates.
 */
final class WinRmSecrets implements Function<Host, WinRmCredentials> {

  private final KubernetesClient client;

  WinRmSecrets(KubernetesClient client) {
    this.client = client;
  }

  @Override
  public WinRmCredentials apply(Host host) {
    Host.SecretName name = host.credentials().orElseThrow(() -> new HypervisorException("NO_CREDENTIALS",
        "the HypervisorClass of " + host.nodeName() + " names no connection.credentialsSecretRef; WinRM needs a Secret"
            + " with the keys username and password"));
    Secret secret;
    try {
      secret = client.secrets().inNamespace(name.namespace()).withName(name.name()).get();
    } catch (KubernetesClientException e) {
      throw new HypervisorException("NO_CREDENTIALS", "cannot read Secret " + name + ": " + e.getMessage(), e);
    }
    if (secret == null) {
      throw new HypervisorException("NO_CREDENTIALS", "Secret " + name + " does not exist; create it with the keys"
          + " username and password (and ca.crt when the hosts' certificates are not publicly trusted)");
    }
    Map<String, String> data = secret.getData() == null ? Map.of() : secret.getData();
    String username = decoded(data, "username").orElseThrow(() -> missing(name, "username"));
    String password = decoded(data, "password").orElseThrow(() -> missing(name, "password"));
    return new WinRmCredentials(username, password, decoded(data, "ca.crt"));
  }

  private static Optional<String> decoded(Map<String, String> data, String key) {
    return Optional.ofNullable(data.get(key)).map(v -> new String(Base64.getDecoder().decode(v), StandardCharsets.UTF_8));
  }

  private static HypervisorException missing(Host.SecretName name, String key) {
    return new HypervisorException("NO_CREDENTIALS", "Secret " + name + " has no key " + key + "; add it");
  }
}
