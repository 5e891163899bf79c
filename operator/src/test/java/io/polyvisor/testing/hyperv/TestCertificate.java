package io.polyvisor.testing.hyperv;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A self-signed certificate for 127.0.0.1, made with openssl: the PEM a client trusts and the
 * PKCS12 key store a simulated host serves.
 */
public record TestCertificate(String pem, Path keyStore) {

  static final String PASSWORD = "changeit";
  private static TestCertificate shared;

  /** One certificate for every test of this JVM, in a temporary folder deleted on exit. */
  public static synchronized TestCertificate shared() {
    if (shared == null) {
      try {
        Path folder = Files.createTempDirectory("polyvisor-winrm-tls");
        folder.toFile().deleteOnExit();
        shared = create(folder);
        for (String file : List.of("key.pem", "cert.pem", "host.p12")) {
          folder.resolve(file).toFile().deleteOnExit();
        }
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException(e);
      }
    }
    return shared;
  }

  public static TestCertificate create(Path folder) throws IOException, InterruptedException {
    Files.createDirectories(folder);
    Path key = folder.resolve("key.pem");
    Path cert = folder.resolve("cert.pem");
    Path store = folder.resolve("host.p12");
    run(List.of("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key.toString(), "-out",
        cert.toString(), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"));
    run(List.of("openssl", "pkcs12", "-export", "-in", cert.toString(), "-inkey", key.toString(), "-out", store.toString(),
        "-passout", "pass:" + PASSWORD));
    return new TestCertificate(Files.readString(cert), store);
  }

  private static void run(List<String> command) throws IOException, InterruptedException {
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes());
    if (process.waitFor() != 0) {
      throw new IOException(String.join(" ", command) + " failed: " + output);
    }
  }
}
