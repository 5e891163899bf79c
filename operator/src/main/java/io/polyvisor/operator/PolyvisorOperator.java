package io.polyvisor.operator;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.polyvisor.observability.ApiRequestCounter;
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
import io.javaoperatorsdk.operator.monitoring.micrometer.MicrometerMetrics;
import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.polyvisor.node.CpuModelLabelReconciler;
import io.polyvisor.rebalance.RebalanceReconciler;
import io.polyvisor.observability.OperatorEndpoints;
import java.time.Clock;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
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
  private final PrometheusMeterRegistry registry;
  private final AtomicBoolean stopping;
  private OperatorEndpoints endpoints;

  private PolyvisorOperator(Operator operator, Drivers drivers, LeaseGuard guard, PrometheusMeterRegistry registry,
      AtomicBoolean stopping) {
    this.operator = operator;
    this.drivers = drivers;
    this.guard = guard;
    this.registry = registry;
    this.stopping = stopping;
  }

  /** Starts reconciling with the given client; {@code leaseNamespace} null runs without leader election. */
  public static PolyvisorOperator start(KubernetesClient client, OperatorSettings settings, String leaseNamespace) {
    try {
      return start(client, settings, leaseNamespace, Optional.empty());
    } catch (java.io.IOException e) {
      throw new IllegalStateException(e); // no endpoints to bind
    }
  }

  /**
   * As above, serving the probes and the metrics where {@code endpoints} says, from before the
   * informers start (so that a slow start is answered "not ready", not left unanswered).
   */
  public static PolyvisorOperator start(KubernetesClient client, OperatorSettings settings, String leaseNamespace,
      Optional<OperatorEndpoints.Listen> endpoints) throws java.io.IOException {
    if (leaseNamespace != null) {
      settings.checkStopTimeoutFitsTheLease();
    }
    // Unique per process: two replicas on one host (or one restarted) must not pass for each other.
    String identity = hostname() + "-" + ProcessHandle.current().pid() + "-" + UUID.randomUUID().toString().substring(0, 8);
    LeaseGuard guard = leaseNamespace == null ? LeaseGuard.unguarded()
        : new LeaseGuard(client, leaseNamespace, LEASE, identity, settings.lease().duration(), Clock.systemUTC());
    AtomicBoolean stopping = new AtomicBoolean();
    Drivers drivers = new Drivers(Map.of(
        Driver.LIBVIRT, new GuardedDriver(
            new LibvirtDriver(settings.hypervisorCallTimeout(), new LibvirtTlsSecrets(client, settings.libvirtPkiDir())), guard),
        Driver.HYPERV, new GuardedDriver(new HyperVDriver(new WinRmSecrets(client), settings.hypervisorCallTimeout()), guard)));
    // One registry for JOSDK's reconciliation metrics and Polyvisor's own (which go through
    // Micrometer's global registry, so that drivers need no handle on it).
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    Metrics.addRegistry(registry);
    new JvmMemoryMetrics().bindTo(registry);
    new JvmGcMetrics().bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    Operator operator =
        new Operator(o -> {
          o.withKubernetesClient(client).withCloseClientOnStop(false)
              // On stop, reconciliations under way get this long to finish (see close()).
              .withReconciliationTerminationTimeout(settings.stopTimeout())
              // Per-resource metrics would make one series per VM: counts by controller only.
              .withMetrics(MicrometerMetrics.withoutPerResourceMetrics(registry));
          if (leaseNamespace != null) {
            o.withLeaderElectionConfiguration(LeaderElectionConfigurationBuilder.aLeaderElectionConfiguration(LEASE)
                .withLeaseNamespace(leaseNamespace)
                .withIdentity(identity)
                .withLeaseDuration(settings.lease().duration())
                .withRenewDeadline(settings.lease().renewDeadline())
                .withRetryPeriod(settings.lease().retryPeriod())
                // A lost Lease stops every hypervisor call of this process at once (the new leader
                // owns the guests from now on), then the process exits to start again as a
                // candidate. Exiting is ours, not JOSDK's: JOSDK's exit, called while the process
                // stops on SIGTERM, would wait forever for the shutdown hook it runs from.
                .withExitOnStopLeading(false)
                .withLeaderCallbacks(new LeaderCallbacks(
                    () -> log.info("leading as {}", identity),
                    () -> {
                      if (stopping.get()) {
                        return; // JOSDK stops leading last when the operator stops: close() does the rest
                      }
                      guard.stop("lost the Lease " + leaseNamespace + "/" + LEASE);
                      log.error("lost the Lease {}/{}: exiting", leaseNamespace, LEASE);
                      new Thread(() -> System.exit(1), "exit-on-lost-lease").start();
                    },
                    leader -> log.info("the leader is {}", leader)))
                .build());
          }
        });
    operator.register(
        new VirtualMachineReconciler(drivers, settings, Clock.systemUTC(), guard),
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
    operator.register(
        new CpuModelLabelReconciler(client, drivers),
        // It reschedules itself; a Node's spec and labels change without a generation.
        c -> c.withGenerationAware(false));
    operator.register(
        new RebalanceReconciler(client, live, drivers, Clock.systemUTC()),
        // Each pass reschedules the next at the class's interval; a spec change starts one at once.
        c -> c.withReconciliationMaxInterval(settings.resyncPeriod()));
    PolyvisorOperator running = new PolyvisorOperator(operator, drivers, guard, registry, stopping);
    if (endpoints.isPresent()) {
      try {
        running.endpoints = OperatorEndpoints.start(endpoints.get(), operator::getRuntimeInfo, drivers, registry);
      } catch (java.io.IOException e) {
        running.close();
        throw new java.io.IOException("cannot serve the HTTP endpoints on " + endpoints.get().address() + ":"
            + endpoints.get().port() + " (POLYVISOR_HTTP_ADDRESS, POLYVISOR_HTTP_PORT): " + e.getMessage(), e);
      }
    }
    operator.start();
    log.info("Polyvisor operator started as {} ({})", identity, settings);
    return running;
  }

  /**
   * Stops gracefully: no new reconciliation starts, and those under way get the stop timeout to
   * finish; then every hypervisor call still running is cut off and the connections close.
   * JOSDK no longer renews the Lease while it waits, so the stop timeout is shorter than the time
   * the Lease lasts (see {@link OperatorSettings}): what runs meanwhile still runs as the leader,
   * and the lease guard refuses anything later. A standby leads once the Lease lapses. Transfers
   * of live migrations go on in the hosts, and the next leader follows them.
   */
  @Override
  public void close() {
    stopping.set(true);
    operator.stop();
    guard.stop("the operator is stopping");
    if (endpoints != null) {
      endpoints.close();
    }
    // The gauges read this process's caches: gone with it, so that another operator in the same
    // JVM (the tests) registers its own.
    Metrics.removeRegistry(registry);
    Metrics.globalRegistry.find("polyvisor.vms").meters().forEach(Metrics.globalRegistry::remove);
    registry.close();
    drivers.close();
    log.info("Polyvisor operator stopped");
  }

  private static String hostname() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (UnknownHostException e) {
      return "polyvisor";
    }
  }

  public static void main(String[] args) {
    // The Kerberos configuration (realms, KDCs) of WinRM logons, one for the whole JVM: the
    // Helm chart mounts it from a ConfigMap and names it here.
    Optional.ofNullable(System.getenv("POLYVISOR_KRB5_CONF")).filter(path -> !path.isBlank())
        .ifPresent(path -> System.setProperty("java.security.krb5.conf", path));
    OperatorSettings settings = OperatorSettings.fromEnvironment();
    KubernetesClient client = new KubernetesClientBuilder()
        .withHttpClientBuilderConsumer(http -> http.addOrReplaceInterceptor(ApiRequestCounter.NAME, new ApiRequestCounter()))
        .build();
    String format = System.getenv().getOrDefault("POLYVISOR_LOG_FORMAT", "text").trim();
    if (!format.isEmpty() && !format.equals("text") && !format.equals("json")) {
      // logback has found no appender of that name: nothing would ever be logged.
      System.err.println("POLYVISOR_LOG_FORMAT must be text or json, not '" + format + "'");
      System.exit(2);
    }
    PolyvisorOperator running;
    try {
      running = start(client, settings, System.getenv("POLYVISOR_NAMESPACE"),
          Optional.of(OperatorEndpoints.Listen.from(System.getenv())));
    } catch (java.io.IOException e) {
      client.close();
      throw new IllegalStateException(e.getMessage(), e);
    }
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      running.close();
      client.close();
    }, "shutdown"));
  }

}
