package io.polyvisor.cli;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code kubectl polyvisor}: maintenance from the command line. kubectl runs an executable named
 * {@code kubectl-polyvisor} found on the PATH; it reads the same kubeconfig ({@code KUBECONFIG},
 * else {@code ~/.kube/config}) and its current context's namespace.
 */
@Command(
    name = "kubectl polyvisor",
    mixinStandardHelpOptions = true,
    versionProvider = KubectlPolyvisor.Version.class,
    description = "Plan and watch evacuations, move and cancel VM migrations, see each node's load.",
    subcommands = {PlanCommand.class, MigrateCommand.class, CancelCommand.class, EvacuationCommand.class, StatusCommand.class,
        CommandLine.HelpCommand.class})
public final class KubectlPolyvisor {

  @Option(names = {"-n", "--namespace"}, scope = CommandLine.ScopeType.INHERIT,
      description = "Namespace of VMs and migrations (default: the kubeconfig context's, else default).")
  String namespace;

  private KubernetesClient client;

  KubernetesClient client() {
    if (client == null) {
      client = new KubernetesClientBuilder().build();
    }
    return client;
  }

  String namespace() {
    if (namespace != null) {
      return namespace;
    }
    String configured = client().getNamespace();
    return configured == null ? "default" : configured;
  }

  public static void main(String[] args) {
    System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
  }

  /** Runs one command line; the exit code is 0 on success, 1 when it failed (said on {@code err}), 2 for bad usage. */
  public static int run(String[] args, PrintWriter out, PrintWriter err) {
    KubectlPolyvisor root = new KubectlPolyvisor();
    CommandLine line = new CommandLine(root);
    line.setOut(out);
    line.setErr(err);
    line.setExecutionExceptionHandler((e, cmd, parsed) -> {
      if (e instanceof UserError) {
        err.println("error: " + e.getMessage());
      } else if (e instanceof KubernetesClientException k) {
        err.println("error: the API server refused: " + (k.getStatus() != null && k.getStatus().getMessage() != null
            ? k.getStatus().getMessage() : k.getMessage()));
      } else {
        err.println("error: " + e);
      }
      return 1;
    });
    try {
      return line.execute(args);
    } finally {
      out.flush();
      err.flush();
      if (root.client != null) {
        root.client.close();
      }
    }
  }

  /** A mistake of the user's (a name that does not exist, a request that cannot be done), said as it is. */
  static final class UserError extends RuntimeException {
    UserError(String message) {
      super(message);
    }
  }

  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String version = KubectlPolyvisor.class.getPackage().getImplementationVersion();
      return new String[] {"kubectl-polyvisor " + (version == null ? "(development build)" : version)};
    }
  }
}
