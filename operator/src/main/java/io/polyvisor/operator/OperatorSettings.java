package io.polyvisor.operator;

import io.polyvisor.driver.HostCalls;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

/**
 * The operator's settings, from environment variables (the Helm chart sets them).
 *
 * @param consoleLogDir POLYVISOR_CONSOLE_LOG_DIR: a folder on every host where each guest's serial
 *     console is appended (kept across live migrations); unset, consoles are ptys
 * @param balloonPeriod POLYVISOR_BALLOON_PERIOD_SECONDS (10): how often Dynamic-memory guests
 *     on KVM are re-sized from their statistics, the one place the operator polls
 * @param resyncPeriod POLYVISOR_RESYNC_PERIOD_SECONDS (300): every VM is reconciled at least
 *     this often, a safety net under the hypervisor events
 * @param shutdownGracePeriod POLYVISOR_SHUTDOWN_GRACE_SECONDS (120): how long a guest asked to shut
 *     down gets before its power is cut
 * @param hostGoneTimeout POLYVISOR_HOST_GONE_TIMEOUT_SECONDS (600): how long a deleted VM waits for
 *     an unreachable host before its finalizer is removed anyway
 * @param placeholderImage POLYVISOR_PLACEHOLDER_IMAGE (registry.k8s.io/pause:3.10): the image of
 *     the placeholder pod that stands for each VM on its node, so that {@code kubectl drain} waits
 *     for the VM to leave; a mirror of it in air-gapped clusters
 * @param lease POLYVISOR_LEASE_DURATION_SECONDS (15), POLYVISOR_LEASE_RENEW_DEADLINE_SECONDS (10)
 *     and POLYVISOR_LEASE_RETRY_PERIOD_SECONDS (2): the leader-election Lease's timings
 * @param hypervisorCallTimeout POLYVISOR_HYPERVISOR_CALL_TIMEOUT_SECONDS (30): how long a call to a
 *     host's libvirtd, or one WinRM request beyond the time WinRM is asked to hold it, may go
 *     unanswered before the host is reported hung (copies of disk bytes have no such limit)
 * @param libvirtPkiDir POLYVISOR_LIBVIRT_PKI_DIR ({@code <java.io.tmpdir>/polyvisor-libvirt-pki}):
 *     where the TLS client files from the classes' Secrets are written for libvirt to read, in
 *     folders only the operator's user can enter
 * @param stopTimeout POLYVISOR_STOP_TIMEOUT_SECONDS (10, or less with short Lease timings): on SIGTERM, how long reconciliations
 *     under way may take to finish before the process cuts off its hypervisor calls and exits.
 *     The Lease is not renewed meanwhile, so it must be shorter than the time the last renewal
 *     still covers (lease duration less retry period): no other replica leads before it ends
 */
public record OperatorSettings(
    Optional<Path> consoleLogDir,
    Duration balloonPeriod,
    Duration resyncPeriod,
    Duration shutdownGracePeriod,
    Duration hostGoneTimeout,
    String placeholderImage,
    LeaseTimings lease,
    Duration hypervisorCallTimeout,
    Path libvirtPkiDir,
    Duration stopTimeout) {

  /**
   * How long a leader's Lease lasts without renewal, how long the leader keeps trying to renew
   * before it gives up leading, and how often candidates try to acquire it.
   */
  public record LeaseTimings(Duration duration, Duration renewDeadline, Duration retryPeriod) {
    public static final LeaseTimings DEFAULT = new LeaseTimings(Duration.ofSeconds(15), Duration.ofSeconds(10), Duration.ofSeconds(2));

    /**
     * The leader elector waits up to 1.2 retry periods more between two tries (its jitter), and
     * refuses to start unless a renewal fits twice in the deadline: said here, at start, by name.
     */
    private static final double RETRIES_IN_A_DEADLINE = 2.2;

    public LeaseTimings {
      if (renewDeadline.compareTo(duration) >= 0 || renewDeadline.toMillis() <= retryPeriod.toMillis() * RETRIES_IN_A_DEADLINE) {
        throw new IllegalArgumentException("POLYVISOR_LEASE_RETRY_PERIOD_SECONDS x 2.2 < POLYVISOR_LEASE_RENEW_DEADLINE_SECONDS"
            + " < POLYVISOR_LEASE_DURATION_SECONDS is required (the leader elector retries with a jitter of 1.2 periods),"
            + " not " + retryPeriod.toSeconds() + ", " + renewDeadline.toSeconds() + ", " + duration.toSeconds());
      }
    }
  }

  public static final String DEFAULT_PLACEHOLDER_IMAGE = "registry.k8s.io/pause:3.10";
  public static final Duration DEFAULT_STOP_TIMEOUT = Duration.ofSeconds(10);

  /** 10 s, or less where the Lease's timings leave less (a second short of what a renewal covers). */
  static Duration defaultStopTimeout(LeaseTimings lease) {
    // LeaseTimings keeps the duration at least two seconds above the retry period: this is >= 1 s.
    Duration covered = lease.duration().minus(lease.retryPeriod()).minusSeconds(1);
    return covered.compareTo(DEFAULT_STOP_TIMEOUT) < 0 ? covered : DEFAULT_STOP_TIMEOUT;
  }

  /**
   * With leader election, the stop timeout must end before the Lease's last renewal does: JOSDK
   * does not renew it while the operator stops.
   *
   * @throws IllegalArgumentException naming the settings when it does not
   */
  public void checkStopTimeoutFitsTheLease() {
    if (stopTimeout.compareTo(lease.duration().minus(lease.retryPeriod())) >= 0) {
      throw new IllegalArgumentException("POLYVISOR_STOP_TIMEOUT_SECONDS (" + stopTimeout.toSeconds() + ") must be shorter than"
          + " POLYVISOR_LEASE_DURATION_SECONDS less POLYVISOR_LEASE_RETRY_PERIOD_SECONDS (" + lease.duration().toSeconds() + " - "
          + lease.retryPeriod().toSeconds() + "): the Lease is not renewed while the operator stops");
    }
  }
  public static final Path DEFAULT_LIBVIRT_PKI_DIR = Path.of(System.getProperty("java.io.tmpdir"), "polyvisor-libvirt-pki");

  /** Settings with the default folder for libvirt's TLS client files. */
  public OperatorSettings(
      Optional<Path> consoleLogDir, Duration balloonPeriod, Duration resyncPeriod, Duration shutdownGracePeriod,
      Duration hostGoneTimeout, String placeholderImage, LeaseTimings lease, Duration hypervisorCallTimeout) {
    this(consoleLogDir, balloonPeriod, resyncPeriod, shutdownGracePeriod, hostGoneTimeout, placeholderImage, lease,
        hypervisorCallTimeout, DEFAULT_LIBVIRT_PKI_DIR, defaultStopTimeout(lease));
  }

  /** Settings with the default hypervisor call timeout. */
  public OperatorSettings(
      Optional<Path> consoleLogDir, Duration balloonPeriod, Duration resyncPeriod, Duration shutdownGracePeriod,
      Duration hostGoneTimeout, String placeholderImage, LeaseTimings lease) {
    this(consoleLogDir, balloonPeriod, resyncPeriod, shutdownGracePeriod, hostGoneTimeout, placeholderImage, lease,
        HostCalls.DEFAULT_TIMEOUT);
  }

  /** Settings with the default placeholder image, for callers that choose only the timings. */
  public OperatorSettings(
      Optional<Path> consoleLogDir, Duration balloonPeriod, Duration resyncPeriod, Duration shutdownGracePeriod,
      Duration hostGoneTimeout) {
    this(consoleLogDir, balloonPeriod, resyncPeriod, shutdownGracePeriod, hostGoneTimeout, DEFAULT_PLACEHOLDER_IMAGE,
        LeaseTimings.DEFAULT);
  }

  public static OperatorSettings fromEnvironment() {
    return from(System.getenv());
  }

  public static OperatorSettings from(Map<String, String> env) {
    LeaseTimings lease = new LeaseTimings(
        seconds(env, "POLYVISOR_LEASE_DURATION_SECONDS", 15),
        seconds(env, "POLYVISOR_LEASE_RENEW_DEADLINE_SECONDS", 10),
        seconds(env, "POLYVISOR_LEASE_RETRY_PERIOD_SECONDS", 2));
    return new OperatorSettings(
        Optional.ofNullable(env.get("POLYVISOR_CONSOLE_LOG_DIR")).filter(s -> !s.isBlank()).map(Path::of),
        seconds(env, "POLYVISOR_BALLOON_PERIOD_SECONDS", 10),
        seconds(env, "POLYVISOR_RESYNC_PERIOD_SECONDS", 300),
        seconds(env, "POLYVISOR_SHUTDOWN_GRACE_SECONDS", 120),
        seconds(env, "POLYVISOR_HOST_GONE_TIMEOUT_SECONDS", 600),
        Optional.ofNullable(env.get("POLYVISOR_PLACEHOLDER_IMAGE")).map(String::trim).filter(s -> !s.isEmpty())
            .orElse(DEFAULT_PLACEHOLDER_IMAGE),
        lease,
        seconds(env, "POLYVISOR_HYPERVISOR_CALL_TIMEOUT_SECONDS", HostCalls.DEFAULT_TIMEOUT.toSeconds()),
        Optional.ofNullable(env.get("POLYVISOR_LIBVIRT_PKI_DIR")).filter(s -> !s.isBlank()).map(Path::of)
            .orElse(DEFAULT_LIBVIRT_PKI_DIR),
        seconds(env, "POLYVISOR_STOP_TIMEOUT_SECONDS", defaultStopTimeout(lease).toSeconds()));
  }

  private static Duration seconds(Map<String, String> env, String name, long defaultSeconds) {
    String value = env.get(name);
    if (value == null || value.isBlank()) {
      return Duration.ofSeconds(defaultSeconds);
    }
    try {
      long seconds = Long.parseLong(value.trim());
      if (seconds <= 0) {
        throw new NumberFormatException();
      }
      return Duration.ofSeconds(seconds);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be a positive number of seconds, not '" + value + "'");
    }
  }
}
