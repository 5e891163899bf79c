package io.polyvisor.testing.hyperv;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real MIT Kerberos KDC for tests (the Debian packages krb5-kdc, krb5-admin-server and
 * krb5-user, which testbed/prerequisites installs): realm {@link #REALM} in a temporary folder,
 * with the user {@link #USER} (password {@link #USER_PASSWORD}, pre-authentication required as in
 * Active Directory) and the service {@link #SERVICE}, a WinRM host's HTTP service at 127.0.0.1, in
 * {@link #serviceKeytab()}. It listens on a free loopback port (UDP and TCP); the MIT tools get
 * their configuration through KRB5_CONFIG and KRB5_KDC_PROFILE, so /etc is not touched.
 *
 * <p>The JDK reads its Kerberos configuration from the system property {@code
 * java.security.krb5.conf}, one for the whole JVM: {@link #shared()} sets it to this realm's
 * krb5.conf, so every test of the JVM uses the one shared KDC. That file turns off DNS lookups and
 * hostname canonicalization ({@code dns_canonicalize_hostname = false}, {@code rdns = false}), so
 * that {@code HTTP@127.0.0.1} stays {@code HTTP/127.0.0.1}, and makes tickets forwardable.
 *
 * <p>krb5kdc runs in the foreground ({@code -n}) as a child of this JVM and is stopped by its pid
 * on {@link #close()} (and at JVM exit for the shared one).
 */
public final class TestKdc implements AutoCloseable {

  public static final String REALM = "POLYVISOR.TEST";
  public static final String USER = "polyvisor@" + REALM;
  public static final String USER_PASSWORD = "Kerb3ros-pw";
  public static final String SERVICE = "HTTP/127.0.0.1@" + REALM;
  private static final String MASTER_PASSWORD = "master-pw";
  private static TestKdc shared;

  private final Path folder;
  private final Path krb5Conf;
  private final Path serviceKeytab;
  private final Path userKeytab;
  private final Process kdc;
  private final int port;

  private TestKdc(Path folder, Path krb5Conf, Path serviceKeytab, Path userKeytab, Process kdc, int port) {
    this.folder = folder;
    this.krb5Conf = krb5Conf;
    this.serviceKeytab = serviceKeytab;
    this.userKeytab = userKeytab;
    this.kdc = kdc;
    this.port = port;
  }

  /**
   * The KDC of this JVM, started at the first call, with {@code java.security.krb5.conf} set to its
   * krb5.conf (for the whole JVM: see the class comment).
   */
  public static synchronized TestKdc shared() {
    if (shared == null) {
      try {
        shared = start(Files.createTempDirectory("polyvisor-kdc"));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      System.setProperty("java.security.krb5.conf", shared.krb5Conf.toString());
      TestKdc kdc = shared;
      Runtime.getRuntime().addShutdownHook(new Thread(kdc::close, "test-kdc-stop"));
    }
    return shared;
  }

  /** Makes the realm in the folder and starts its KDC. */
  public static TestKdc start(Path folder) {
    String krb5kdc = tool("krb5kdc");
    String kdb5Util = tool("kdb5_util");
    String kadmin = tool("kadmin.local");
    try {
      int port = freePort();
      Path kdcConf = folder.resolve("kdc.conf");
      Path krb5Conf = folder.resolve("krb5.conf");
      Files.writeString(kdcConf, """
          [kdcdefaults]
           kdc_listen = 127.0.0.1:%1$d
           kdc_tcp_listen = 127.0.0.1:%1$d
          [realms]
           %2$s = {
            database_name = %3$s/principal
            key_stash_file = %3$s/stash
            acl_file = %3$s/kadm5.acl
            max_life = 10h
            max_renewable_life = 7d
            supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
           }
          [logging]
           kdc = FILE:%3$s/kdc.log
          """.formatted(port, REALM, folder));
      Files.writeString(krb5Conf, """
          [libdefaults]
           default_realm = %2$s
           dns_lookup_kdc = false
           dns_lookup_realm = false
           dns_canonicalize_hostname = false
           rdns = false
           forwardable = true
           udp_preference_limit = 1
          [realms]
           %2$s = {
            kdc = 127.0.0.1:%1$d
           }
          [domain_realm]
           127.0.0.1 = %2$s
          """.formatted(port, REALM));
      Files.writeString(folder.resolve("kadm5.acl"), "");
      Path serviceKeytab = folder.resolve("http.keytab");
      Path userKeytab = folder.resolve("user.keytab");
      run(folder, List.of(kdb5Util, "create", "-s", "-r", REALM, "-P", MASTER_PASSWORD));
      kadmin(folder, kadmin, "addprinc +requires_preauth -pw " + USER_PASSWORD + " " + USER);
      kadmin(folder, kadmin, "ktadd -k " + userKeytab + " -norandkey " + USER);
      kadmin(folder, kadmin, "addprinc -randkey " + SERVICE);
      kadmin(folder, kadmin, "ktadd -k " + serviceKeytab + " " + SERVICE);
      ProcessBuilder builder = new ProcessBuilder(krb5kdc, "-n", "-r", REALM).redirectErrorStream(true)
          .redirectOutput(folder.resolve("krb5kdc.out").toFile());
      environment(builder, folder);
      Process kdc = builder.start();
      TestKdc started = new TestKdc(folder, krb5Conf, serviceKeytab, userKeytab, kdc, port);
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
      while (!listening(port)) {
        if (!kdc.isAlive() || System.nanoTime() > until) {
          started.close();
          throw new IllegalStateException("krb5kdc did not start on 127.0.0.1:" + port + ": "
              + read(folder.resolve("krb5kdc.out")) + read(folder.resolve("kdc.log")));
        }
        Thread.sleep(50);
      }
      return started;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  public Path krb5Conf() {
    return krb5Conf;
  }

  /** The keytab of {@link #SERVICE}, as a WinRM host's acceptor uses it. */
  public Path serviceKeytab() {
    return serviceKeytab;
  }

  /** The keytab of {@link #USER} (keys from its password), as a Secret's {@code keytab} holds it. */
  public byte[] userKeytab() {
    try {
      return Files.readAllBytes(userKeytab);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public int port() {
    return port;
  }

  /** Adds a principal with a password (pre-authentication required). */
  public void addUser(String principal, String password) {
    try {
      kadmin(folder, tool("kadmin.local"), "addprinc +requires_preauth -pw " + password + " " + principal);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /**
   * Gives {@link #SERVICE} a new key (its kvno goes up), as a host whose computer account changed
   * its password: the keytab is replaced by one with the new key only, and {@link #serviceKeytab()}
   * gets it too (so other simulators take old and new tickets).
   */
  public void rotateServiceKey(Path keytab) {
    try {
      String kadmin = tool("kadmin.local");
      Path fresh = folder.resolve("rotated-" + System.nanoTime() + ".keytab");
      kadmin(folder, kadmin, "ktadd -k " + fresh + " " + SERVICE);
      kadmin(folder, kadmin, "ktadd -k " + serviceKeytab + " -norandkey " + SERVICE);
      Files.move(fresh, keytab, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** Stops krb5kdc (SIGTERM to its pid, then SIGKILL if it lingers) and removes the realm's folder. */
  @Override
  public void close() {
    if (kdc.isAlive()) {
      kdc.destroy();
      try {
        if (!kdc.waitFor(5, TimeUnit.SECONDS)) {
          kdc.destroyForcibly();
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    try (Stream<Path> files = Files.walk(folder)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException ignored) {
      // a temporary folder
    }
  }

  /** The MIT tool's path; fails, naming the fix, when it is not installed (never a silent skip). */
  private static String tool(String name) {
    List<String> dirs = new ArrayList<>(List.of(System.getenv().getOrDefault("PATH", "").split(":")));
    dirs.addAll(List.of("/usr/sbin", "/usr/local/sbin", "/sbin"));
    for (String dir : dirs) {
      Path candidate = Path.of(dir.isEmpty() ? "." : dir, name);
      if (Files.isExecutable(candidate)) {
        return candidate.toString();
      }
    }
    throw new IllegalStateException(name + " (MIT Kerberos) is not installed, and the Kerberos tests need a real KDC:"
        + " run testbed/prerequisites as root (it installs the Debian packages krb5-kdc krb5-admin-server krb5-user)");
  }

  private static void kadmin(Path folder, String kadmin, String query) throws IOException, InterruptedException {
    run(folder, List.of(kadmin, "-r", REALM, "-q", query));
  }

  private static void run(Path folder, List<String> command) throws IOException, InterruptedException {
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
    environment(builder, folder);
    Process process = builder.start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!process.waitFor(30, TimeUnit.SECONDS) || process.exitValue() != 0 || output.contains(" while ")) {
      process.destroyForcibly();
      throw new IOException(String.join(" ", command) + " failed: " + output);
    }
  }

  private static void environment(ProcessBuilder builder, Path folder) {
    builder.environment().put("KRB5_CONFIG", folder.resolve("krb5.conf").toString());
    builder.environment().put("KRB5_KDC_PROFILE", folder.resolve("kdc.conf").toString());
    builder.environment().put("KRB5CCNAME", "FILE:" + folder.resolve("ccache"));
  }

  /** A port free on 127.0.0.1 for both UDP and TCP (just now). */
  private static int freePort() throws IOException {
    for (int i = 0; i < 20; i++) {
      try (ServerSocket tcp = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
        int port = tcp.getLocalPort();
        try (DatagramSocket udp = new DatagramSocket(new InetSocketAddress(InetAddress.getLoopbackAddress(), port))) {
          return port;
        } catch (IOException taken) {
          // try another
        }
      }
    }
    throw new IOException("no free loopback port for the KDC");
  }

  private static boolean listening(int port) {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 200);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static String read(Path file) {
    try {
      return Files.exists(file) ? Files.readString(file) : "";
    } catch (IOException e) {
      return "";
    }
  }
}
