package io.polyvisor.testing.hyperv;

import io.fabric8.kubernetes.api.model.Quantity;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The sandbox's Hyper-V hosts ({@code testbed/sandbox}): simulated hosts hv-1, hv-2 … on one
 * {@link HyperVNetwork}, so that Move-VM goes from one to another, each with migration enabled and
 * behind a {@link WinRmSimulator} of its own on a loopback port, over HTTPS with a Basic logon.
 * Every host reaches the SMB 3 share {@value #SHARE}, where the sandbox's StorageClass keeps disks.
 * They are the project's WinRM simulator, not Windows.
 *
 * <p>Writes into {@code --dir} what the sandbox needs: {@code ca.crt} (the hosts' self-signed
 * certificate, which is its own CA), {@code username}, {@code password}, and last {@code endpoints}
 * (a line {@code NAME URL} per host), whose presence says every host listens. Runs until killed.
 */
@Command(name = "sandbox-hyperv-hosts", mixinStandardHelpOptions = true,
    description = "Simulated Hyper-V hosts for testbed/sandbox, until killed.")
public final class SandboxHyperVHosts implements Callable<Integer> {

  /** The share every host reaches, as a Windows file server would offer it; parameters.path of the sandbox's StorageClass. */
  static final String SHARE = "\\\\sandbox-fs\\vms";

  @Option(names = "--dir", required = true, description = "Folder to write ca.crt, username, password and endpoints into.")
  Path dir;

  @Option(names = "--hosts", defaultValue = "2", description = "How many hosts, named hv-1, hv-2 … (default ${DEFAULT-VALUE}).")
  int hosts;

  @Option(names = "--memory", defaultValue = "2Gi", description = "Each host's memory, a quantity (default ${DEFAULT-VALUE}).")
  String memory;

  @Option(names = "--cpus", defaultValue = "2", description = "Each host's logical processors (default ${DEFAULT-VALUE}).")
  int cpus;

  @Option(names = "--username", defaultValue = "polyvisor", description = "The WinRM user (default ${DEFAULT-VALUE}).")
  String username;

  public static void main(String[] args) {
    System.exit(new CommandLine(new SandboxHyperVHosts()).execute(args));
  }

  @Override
  public Integer call() throws Exception {
    Files.createDirectories(dir);
    TestCertificate certificate = TestCertificate.create(dir.resolve("tls"));
    // A fresh password each start: the sandbox puts it in the class's Secret, nobody types it.
    byte[] secret = new byte[18];
    new SecureRandom().nextBytes(secret);
    String password = Base64.getUrlEncoder().withoutPadding().encodeToString(secret);
    long memoryBytes = Quantity.getAmountInBytes(new Quantity(memory)).longValueExact();

    HyperVNetwork network = new HyperVNetwork();
    List<WinRmSimulator> simulators = new ArrayList<>();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> simulators.forEach(WinRmSimulator::close)));
    StringBuilder endpoints = new StringBuilder();
    for (int i = 1; i <= hosts; i++) {
      String name = "hv-" + i;
      // Windows computer names are upper case; Move-VM finds its destination by that name.
      SimulatedHyperVHost host = new SimulatedHyperVHost(network, name.toUpperCase(Locale.ROOT), memoryBytes, cpus)
          .enableMigration().folder("C:\\VMs").share(SHARE, "3.02").virtualSwitch("External");
      WinRmSimulator simulator = new WinRmSimulator(host, username, password, certificate.keyStore());
      simulators.add(simulator);
      endpoints.append(name).append(' ').append(simulator.endpoint()).append('\n');
      System.out.println(name + ": " + simulator.endpoint() + " (" + memory + ", " + cpus + " logical processors, share " + SHARE + ")");
    }

    Files.writeString(dir.resolve("ca.crt"), certificate.pem());
    Files.writeString(dir.resolve("username"), username);
    Path passwordFile = dir.resolve("password");
    Files.deleteIfExists(passwordFile);
    Files.createFile(passwordFile, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    Files.writeString(passwordFile, password);
    // Written last and moved into place whole: a reader that sees it sees every host listening.
    Path partial = dir.resolve("endpoints.partial");
    Files.writeString(partial, endpoints);
    Files.move(partial, dir.resolve("endpoints"), StandardCopyOption.ATOMIC_MOVE);
    System.out.println("CA: " + dir.resolve("ca.crt") + "; endpoints: " + dir.resolve("endpoints"));

    new CountDownLatch(1).await();
    return 0;
  }
}
