package io.polyvisor.operator;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.driver.libvirt.LibvirtCredentials;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * libvirt's TLS client files from the Secret a HypervisorClass names: keys {@code ca.crt} (the CA
 * that signed the hosts' certificates), {@code tls.crt} and {@code tls.key} (the operator's client
 * certificate and key), as in a {@code kubernetes.io/tls} Secret that cert-manager writes. libvirt
 * reads them only from files, so they are written under the folder of the setting {@code
 * POLYVISOR_LIBVIRT_PKI_DIR}, in folders that only the operator's user can enter (the chart puts
 * them in memory).
 *
 * <p>Each version of a Secret's files gets a folder of its own, named by their content and
 * complete before it is named to libvirt: a connection opening while the Secret is renewed reads
 * the old set or the new, never a new certificate with the old key.
 */
final class LibvirtTlsSecrets implements LibvirtCredentials {

  private static final Set<PosixFilePermission> OWNER_ONLY_FOLDER = PosixFilePermissions.fromString("rwx------");
  private static final Set<PosixFilePermission> OWNER_ONLY_FILE = PosixFilePermissions.fromString("rw-------");
  /** Versions of a Secret's files kept: the newest, and the one a connection may be opening with. */
  private static final int VERSIONS_KEPT = 2;

  private final KubernetesClient client;
  private final Path root;

  LibvirtTlsSecrets(KubernetesClient client, Path root) {
    this.client = client;
    this.root = root;
  }

  @Override
  public Optional<Path> pkiFolder(Host host) {
    if (!LibvirtCredentials.isTls(host.endpoint()) || host.credentials().isEmpty()) {
      return Optional.empty();
    }
    ClassSecret secret = ClassSecret.read(client, host, "libvirt over TLS needs a Secret with the keys ca.crt, tls.crt and"
        + " tls.key (the CA of the hosts' certificates, the client certificate and its key)");
    Map<String, String> files = new LinkedHashMap<>();
    files.put("cacert.pem", secret.require("ca.crt"));
    files.put("clientcert.pem", secret.require("tls.crt"));
    files.put("clientkey.pem", secret.require("tls.key"));
    try {
      return Optional.of(write(secret.name(), files));
    } catch (IOException e) {
      throw new HypervisorException("NO_CREDENTIALS", "cannot write the TLS client files of Secret " + secret.name() + " under "
          + root + " (POLYVISOR_LIBVIRT_PKI_DIR): " + e.getMessage(), e);
    }
  }

  /** One writer at a time: two hosts of a class may open their connections at once. */
  private synchronized Path write(Host.SecretName name, Map<String, String> files) throws IOException {
    checkRoot();
    Path secretFolder = privateFolder(privateFolder(root.resolve(name.namespace())).resolve(name.name()));
    Path version = secretFolder.resolve(digest(files));
    if (Files.isDirectory(version, LinkOption.NOFOLLOW_LINKS)) {
      return version;
    }
    // Written aside and renamed when complete.
    Path next = Files.createTempDirectory(secretFolder, ".next-", PosixFilePermissions.asFileAttribute(OWNER_ONLY_FOLDER));
    try {
      for (Map.Entry<String, String> file : files.entrySet()) {
        Path target = Files.createFile(next.resolve(file.getKey()), PosixFilePermissions.asFileAttribute(OWNER_ONLY_FILE));
        Files.writeString(target, file.getValue(), StandardCharsets.UTF_8);
      }
      Files.move(next, version, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      deleteTree(next);
    }
    pruneOlderThanTheLast(secretFolder, VERSIONS_KEPT);
    return version;
  }

  /**
   * The root may be a volume mounted for us (the chart's), or made here; either way it must be a
   * real folder of the operator's user that nobody else may write to, or another local user
   * could put files of theirs (or a link) where libvirt looks.
   */
  private void checkRoot() throws IOException {
    if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
      Files.createDirectories(root, PosixFilePermissions.asFileAttribute(OWNER_ONLY_FOLDER));
    }
    PosixFileAttributes attributes = Files.readAttributes(root, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    String me = System.getProperty("user.name");
    Set<PosixFilePermission> permissions = attributes.permissions();
    if (!attributes.isDirectory() || !attributes.owner().getName().equals(me)
        || permissions.contains(PosixFilePermission.GROUP_WRITE) || permissions.contains(PosixFilePermission.OTHERS_WRITE)) {
      throw new IOException(root + " must be a folder (not a link) of user " + me + " that no one else may write to; it is "
          + (attributes.isSymbolicLink() ? "a link" : attributes.isDirectory() ? "a folder" : "a file") + " of "
          + attributes.owner().getName() + " with permissions " + PosixFilePermissions.toString(permissions));
    }
  }

  private static Path privateFolder(Path folder) throws IOException {
    if (!Files.isDirectory(folder, LinkOption.NOFOLLOW_LINKS)) {
      Files.createDirectories(folder, PosixFilePermissions.asFileAttribute(OWNER_ONLY_FOLDER));
    }
    Files.setPosixFilePermissions(folder, OWNER_ONLY_FOLDER);
    return folder;
  }

  private static String digest(Map<String, String> files) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      files.forEach((file, content) -> {
        sha.update(file.getBytes(StandardCharsets.UTF_8));
        sha.update((byte) 0);
        sha.update(content.getBytes(StandardCharsets.UTF_8));
        sha.update((byte) 0);
      });
      return HexFormat.of().formatHex(sha.digest()).substring(0, 16);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e); // every JDK has SHA-256
    }
  }

  private static void pruneOlderThanTheLast(Path secretFolder, int kept) throws IOException {
    List<Path> versions = new ArrayList<>();
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(secretFolder, entry -> !entry.getFileName().toString().startsWith("."))) {
      entries.forEach(versions::add);
    }
    versions.sort(Comparator.comparing(LibvirtTlsSecrets::modified).reversed());
    for (Path old : versions.subList(Math.min(kept, versions.size()), versions.size())) {
      deleteTree(old);
    }
  }

  private static long modified(Path path) {
    try {
      return Files.getLastModifiedTime(path, LinkOption.NOFOLLOW_LINKS).toMillis();
    } catch (IOException e) {
      return 0;
    }
  }

  private static void deleteTree(Path folder) throws IOException {
    if (!Files.exists(folder, LinkOption.NOFOLLOW_LINKS)) {
      return;
    }
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(folder)) {
      for (Path entry : entries) {
        Files.delete(entry);
      }
    }
    Files.delete(folder);
  }
}
