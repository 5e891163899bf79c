package io.polyvisor.operator;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HostUnreachableException;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.driver.hyperv.winrm.WinRmCredentials;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Optional;
import java.util.function.Function;

/**
 * WinRM logons from the Secret a HypervisorClass names, with the keys of {@link
 * WinRmCredentials#fromSecret}: {@code username} and {@code password} (Basic, the default), or
 * {@code authentication: Kerberos} with {@code username} as the principal and {@code password} or
 * {@code keytab}; optionally {@code ca.crt}, the PEM CA that signed the hosts' WinRM certificates.
 */
final class WinRmSecrets implements Function<Host, WinRmCredentials> {

  private final KubernetesClient client;

  WinRmSecrets(KubernetesClient client) {
    this.client = client;
  }

  @Override
  public WinRmCredentials apply(Host host) {
    ClassSecret secret = ClassSecret.read(client, host, "WinRM needs a Secret with the keys " + WinRmCredentials.SECRET_KEYS);
    return WinRmCredentials.fromSecret(secret.name().toString(), key -> "keytab".equals(key)
        ? secret.get(key).flatMap(lossy -> keytab(secret.name()))
        : secret.get(key).map(v -> v.getBytes(StandardCharsets.UTF_8)));
  }

  /**
   * The keytab's bytes as stored. ClassSecret gives values as UTF-8 text, which a binary keytab is
   * not, so this key is read from the Secret once more (only for a Kerberos logon from a keytab,
   * once per client the driver makes).
   */
  private Optional<byte[]> keytab(Host.SecretName name) {
    Secret secret;
    try {
      secret = client.secrets().inNamespace(name.namespace()).withName(name.name()).get();
    } catch (KubernetesClientException e) {
      throw new HostUnreachableException("CREDENTIALS_UNREADABLE", "cannot read Secret " + name + " now: " + e.getMessage(), e);
    }
    if (secret == null) {
      throw new HypervisorException("NO_CREDENTIALS", "Secret " + name + " does not exist; create it: WinRM needs a Secret"
          + " with the keys " + WinRmCredentials.SECRET_KEYS);
    }
    return Optional.ofNullable(secret.getData()).map(d -> d.get("keytab")).map(Base64.getDecoder()::decode);
  }
}
