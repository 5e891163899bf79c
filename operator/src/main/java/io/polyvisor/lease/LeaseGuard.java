package io.polyvisor.lease;

import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.polyvisor.driver.HypervisorException;
import java.time.Clock;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether this process may still act on hypervisors: it holds the leader-election Lease. Checked
 * right before every call that stops, removes, defines or starts a guest or a volume (see
 * {@link GuardedDriver}), by reading the Lease from the API server, because a deposed leader's
 * threads (a restart move, a reconcile in flight) must not act on what the new leader now owns.
 * Once stopped (the lease was lost, or the process is shutting down) it refuses everything.
 */
public class LeaseGuard {

  private static final Logger log = LoggerFactory.getLogger(LeaseGuard.class);

  /** The code of every refusal: this process could not show that it leads. */
  public static final String NOT_LEADER = "NOT_LEADER";

  /** Without leader election: one process, always allowed until stopped. */
  public static LeaseGuard unguarded() {
    return new LeaseGuard(null, null, null, null, Duration.ZERO, Clock.systemUTC());
  }

  private final KubernetesClient client;
  private final String namespace;
  private final String name;
  private final String identity;
  private final Duration leaseDuration;
  private final Clock clock;
  private final AtomicBoolean stopped = new AtomicBoolean();

  public LeaseGuard(KubernetesClient client, String namespace, String name, String identity, Duration leaseDuration, Clock clock) {
    this.client = client;
    this.namespace = namespace;
    this.name = name;
    this.identity = identity;
    this.leaseDuration = leaseDuration;
    this.clock = clock;
  }

  /** From now on nothing may act: called first when leadership is lost and when the process stops. */
  public void stop(String why) {
    if (!stopped.getAndSet(true)) {
      log.warn("no more hypervisor actions from this process: {}", why);
    }
  }

  /**
   * Whether {@code failure} is this guard's refusal (nothing was done on the host), as opposed to
   * a hypervisor's error: a caller that must not give up on a half-done move waits instead.
   */
  public static boolean refused(Throwable failure) {
    return failure instanceof HypervisorException e && NOT_LEADER.equals(e.code());
  }

  /** @throws HypervisorException (code NOT_LEADER) unless this process holds the Lease now */
  public void checkHeld(String action) {
    if (stopped.get()) {
      throw new HypervisorException(NOT_LEADER, "not " + action + ": this operator process is no longer the leader");
    }
    if (client == null) {
      return;
    }
    Lease lease;
    try {
      lease = client.leases().inNamespace(namespace).withName(name).get();
    } catch (KubernetesClientException e) {
      throw new HypervisorException(NOT_LEADER, "not " + action + ": cannot read the Lease " + namespace + "/" + name
          + " to prove this process still leads (" + e.getMessage() + ")");
    }
    String holder = lease == null || lease.getSpec() == null ? null : lease.getSpec().getHolderIdentity();
    if (!identity.equals(holder)) {
      throw new HypervisorException(NOT_LEADER, "not " + action + ": the Lease " + namespace + "/" + name + " is held by "
          + holder + ", not by this process (" + identity + ")");
    }
    ZonedDateTime renewed = lease.getSpec().getRenewTime();
    if (renewed == null || renewed.toInstant().plus(leaseDuration).isBefore(clock.instant())) {
      throw new HypervisorException(NOT_LEADER, "not " + action + ": this process's Lease " + namespace + "/" + name
          + " was last renewed at " + renewed + " and has expired");
    }
  }
}
