package io.polyvisor.operator;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.hyperv.winrm.WinRmCredentials;
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
    ClassSecret secret = ClassSecret.read(client, host, "WinRM needs a Secret with the keys username and password"
        + " (and ca.crt when the hosts' certificates are not publicly trusted)");
    return new WinRmCredentials(secret.require("username"), secret.require("password"), secret.get("ca.crt"));
  }
}
