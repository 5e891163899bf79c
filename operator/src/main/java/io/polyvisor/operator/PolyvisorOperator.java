package io.polyvisor.operator;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
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

  private PolyvisorOperator(Operator operator, Drivers drivers) {
    this.operator = operator;
    this.drivers = drivers;
  }

  /** Starts reconciling with the given client; {@code leaseNamespace} null runs without leader election. */
  public static PolyvisorOperator start(KubernetesClient client, OperatorSettings settings, String leaseNamespace) {
    Drivers drivers = new Drivers(Map.of(
        Driver.LIBVIRT, new LibvirtDriver(settings.hypervisorCallTimeout()),
        Driver.HYPERV, new HyperVDriver(new WinRmSecrets(client), settings.hypervisorCallTimeout())));
    Operator operator =
        new Operator(o -> {
          o.withKubernetesClient(client).withCloseClientOnStop(false);
          if (leaseNamespace != null) {
            o.withLeaderElectionConfiguration(new LeaderElectionConfiguration(LEASE, leaseNamespace));
          }
        });
    operator.register(
        new VirtualMachineReconciler(drivers, settings, Clock.systemUTC()),
        c -> c.withReconciliationMaxInterval(settings.resyncPeriod()));
    ClusterState live = new LiveClusterState(client);
    operator.register(
        new VirtualMachineMigrationReconciler(drivers, new ActiveMigrations(), Clock.systemUTC(), client, live,
            settings.shutdownGracePeriod()),
        // A cancel request is an annotation, which does not bump the generation.
        c -> c.withReconciliationMaxInterval(settings.resyncPeriod()).withGenerationAware(false));
    operator.register(
        new EvacuationReconciler(client, live, Clock.systemUTC()),
        // Cordoning changes a Node's spec, but Nodes keep no generation to compare.
        c -> c.withReconciliationMaxInterval(settings.resyncPeriod()).withGenerationAware(false));
    operator.start();
    log.info("Polyvisor operator started ({})", settings);
    return new PolyvisorOperator(operator, drivers);
  }

  @Override
  public void close() {
    operator.stop();
    drivers.close();
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
