package io.polyvisor.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;

/**
 * Certificates for libvirt's TLS made for one test run by {@code testbed/libvirt-certs}: the
 * folder to start nodes with ({@code POLYVISOR_NODE_TLS}), and Secrets' data for the operator.
 */
public record LibvirtCerts(Path folder) {

  /** A CA, the nodes' server certificate, a client certificate, an expired one and a foreign CA. */
  public static LibvirtCerts make(Path folder) throws IOException, InterruptedException {
    TestbedScripts.run("testbed/libvirt-certs", Duration.ofSeconds(60), "testbed/libvirt-certs",
        folder.toString(), "expired", "foreign");
    return new LibvirtCerts(folder);
  }

  public String read(String relative) throws IOException {
    return Files.readString(folder.resolve(relative), StandardCharsets.UTF_8);
  }

  /** A Secret's data with the keys the operator reads: ca.crt, tls.crt, tls.key (base64, as in the API). */
  public Map<String, String> secretData(String caFile, String certFile, String keyFile) throws IOException {
    return Map.of("ca.crt", base64(read(caFile)), "tls.crt", base64(read(certFile)), "tls.key", base64(read(keyFile)));
  }

  private static String base64(String value) {
    return Base64.getEncoder().encodeToString(value.getBytes(StandardCharsets.UTF_8));
  }
}
