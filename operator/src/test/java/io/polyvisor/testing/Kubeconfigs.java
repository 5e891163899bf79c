package io.polyvisor.testing;

import io.fabric8.kubernetes.client.Config;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;

/**
 * Kubeconfigs for the shared API server that carry everything in themselves (no paths to this
 * machine's files), for a process that runs in a container or as someone else.
 */
public final class Kubeconfigs {

  private Kubeconfigs() {}

  /** Authenticated by {@code token} alone (a ServiceAccount's, from the TokenRequest API). */
  public static String withToken(String token) throws IOException {
    return kubeconfig("token: \"%s\"".formatted(token));
  }

  /** Authenticated as the shared server's administrator, its client certificate inlined. */
  public static String selfContained() throws IOException {
    Config admin = RealApiServer.client().getConfiguration();
    return kubeconfig("client-certificate-data: \"%s\", client-key-data: \"%s\"".formatted(
        inline(admin.getClientCertData(), admin.getClientCertFile()), inline(admin.getClientKeyData(), admin.getClientKeyFile())));
  }

  private static String kubeconfig(String user) throws IOException {
    Config admin = RealApiServer.client().getConfiguration();
    return """
        apiVersion: v1
        kind: Config
        clusters:
        - name: it
          cluster: {server: "%s", certificate-authority-data: "%s"}
        users:
        - name: it
          user: {%s}
        contexts:
        - name: it
          context: {cluster: it, user: it}
        current-context: it
        """.formatted(admin.getMasterUrl(), inline(admin.getCaCertData(), admin.getCaCertFile()), user);
  }

  private static String inline(String data, String file) throws IOException {
    return data != null ? data : Base64.getEncoder().encodeToString(Files.readAllBytes(Path.of(file)));
  }
}
