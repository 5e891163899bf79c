package io.polyvisor.operator;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.javaoperatorsdk.operator.Operator;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfigurationBuilder;
import io.polyvisor.lease.GuardedDriver;
import io.polyvisor.lease.LeaseGuard;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.UUID;
import io.polyvisor.api.v1alpha1.Driver;
import io.polyvisor.cluster.ClusterState;
import io.polyvisor.cluster.LiveClusterState;
import io.polyvisor.driver.Drivers;
import io.polyvisor.evacuation.EvacuationReconciler;
import io.polyvisor.migration.ActiveMigrations;
import io.polyvisor.migration.VirtualMachineMigrationReconciler;
import io.polyvisor.driver.hyperv.HyperVDriver;
import io.polyvisor.driver.libvirt.LibvirtDriver;
import io.polyvisor.vm.VirtualMachineReconciler;
import java.time.Clock;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operator process: the reconcilers on one Kubernetes client, with the hypervisor drivers.
 * Deployed with two replicas, only the leader (a Lease in POLYVISOR_NAMESPACE) reconciles.
 */
public final class PolyvisorOperator implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(PolyvisorOperator.class);
  private static final String LEASE = "polyvisor-operator";

  private final Operator operator;
  private final Drivers drivers;
  private final LeaseGuard guard;

  private PolyvisorOperator(Operator operator, Drivers drivers, LeaseGuard guard) {
    this.operator = operator;
    this.drivers = drivers;
    this.guard = guard;
  }

  /** Starts reconciling with the given client; {@code leaseNamespace} null runs without leader election. */
  public static PolyvisorOperator start(KubernetesClient client, OperatorSettings settings, String leaseNamespace) {
    // Unique per process: two replicas on one host (or one restarted) must not pass for each other.
    String identity = hostname() + "-" + ProcessHandle.current().pid() + "-" + UUID.randomUUID().toString().substring(0, 8);
    LeaseGuard guard = leaseNamespace == null ? LeaseGuard.unguarded()
        : new LeaseGuard(client, leaseNamespace, LEASE, identity, settings.lease().duration(), Clock.systemUTC());
    Drivers drivers = new Drivers(Map.of(
        Driver.LIBVIRT, new GuardedDriver(new LibvirtDriver(settings.hypervisorCallTimeout()), guard),
        Driver.HYPERV, new GuardedDriver(new HyperVDriver(new WinRmSecrets(client), settings.hypervisorCallTimeout()), guard)));
    Operator operator =
        new Operator(o -> {
          o.withKubernetesClient(client).withCloseClientOnStop(false);
          if (leaseNamespace != null) {
            o.withLeaderElectionConfiguration(LeaderElectionConfigurationBuilder.aLeaderElectionConfiguration(LEASE)
                .withLeaseNamespace(leaseNamespace)
                .withIdentity(identity)
                .withLeaseDuration(settings.lease().duration())
                .withRenewDeadline(settings.lease().renewDeadline())
                .withRetryPeriod(settings.lease().retryPeriod())
                // Before the process exits (JOSDK exits on a lost lease), stop every hypervisor
                // call of its threads: the new leader owns the guests from now on.
                .withLeaderCallbacks(new LeaderCallbacks(
                    () -> log.info("leading as {}", identity),
                    () -> guard.stop("lost the Lease " + leaseNamespace + "/" + LEASE),
                    leader -> log.info("the leader is {}", leader)))
                .build());
          }
        });
    operator.register(
        new VirtualMachineReconciler(drivers, settings, Clock.systemUTC()),
        c -> c.withReconciliationMaxInterval(settings.resyncPeriod()));
    ClusterState live = new LiveClusterState(client);
    operator.register(
        new VirtualMachineMigrationReconciler(drivers, new ActiveMigrations(), Clock.systemUTC(), client, live,
            settings.shutdownGracePeriod(), guard),
        // A cancel request is an annotation, which does not bump the generation.
        c -> c.withReconciliationMaxInterval(settings.resyncPeriod()).withGenerationAware(false));
    operator.register(
        new EvacuationReconciler(client, live, Clock.systemUTC()),
        // Cordoning changes a Node's spec, but Nodes keep no generation to compare.
        c -> c.withReconciliationMaxInterval(settings.resyncPeriod()).withGenerationAware(false));
    operator.start();
    log.info("Polyvisor operator started as {} ({})", identity, settings);
    return new PolyvisorOperator(operator, drivers, guard);
  }

  @Override
  public void close() {
    guard.stop("the operator is stopping");
    operator.stop();
    drivers.close();
  }

  private static String hostname() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (UnknownHostException e) {
      return "polyvisor";
    }
  }

  public static void main(String[] args) {
    OperatorSettings settings = OperatorSettings.fromEnvironment();
    KubernetesClient client = new KubernetesClientBuilder().build();
    PolyvisorOperator running = start(client, settings, System.getenv("POLYVISOR_NAMESPACE"));
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      running.close();
      client.close();
    }, "shutdown"));
  }

}
