package io.polyvisor.driver;

import java.time.Duration;
import java.util.Comparator;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * Calls to the management daemons of many hosts, each waited for at most a deadline, so that a
 * daemon that stops answering (stopped, or stuck on storage that no longer answers) costs its
 * callers the deadline and nothing more, and costs the other hosts nothing.
 *
 * <p>Every host endpoint has a few threads of its own ({@link #THREADS_PER_HOST}); a call runs on
 * one of them while the caller waits up to the deadline and then gets a {@link
 * HostUnreachableException} with code {@link #HOST_HUNG}. The call itself cannot be taken back
 * (a native call blocked in a socket read does not notice interrupts): it keeps its thread until
 * the daemon answers. While such a call is past its deadline the host counts as hung, and new
 * calls to it fail at once, naming the stuck call, instead of queueing behind it; once it returns
 * the host is called again as usual.
 */
public final class HostCalls implements AutoCloseable {

  /** The code of the exception a call gets when its host does not answer in time. */
  public static final String HOST_HUNG = "HOST_HUNG";
  /** POLYVISOR_HYPERVISOR_CALL_TIMEOUT_SECONDS when unset. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);
  /** How many calls run at once on one host; more wait their turn (within their deadline). */
  public static final int THREADS_PER_HOST = 4;

  private final String daemon;
  private final Duration timeout;
  private final int threadsPerHost;
  private final Map<String, Lane> lanes = new ConcurrentHashMap<>();

  /**
   * @param daemon what answers on the hosts, for messages ("libvirtd")
   * @param timeout how long a caller waits for one call
   */
  public HostCalls(String daemon, Duration timeout) {
    this(daemon, timeout, THREADS_PER_HOST);
  }

  HostCalls(String daemon, Duration timeout, int threadsPerHost) {
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("the call timeout must be positive, not " + timeout);
    }
    this.daemon = daemon;
    this.timeout = timeout;
    this.threadsPerHost = threadsPerHost;
  }

  public Duration timeout() {
    return timeout;
  }

  /**
   * Runs {@code work} on one of the host's threads and returns what it returns, or rethrows what
   * it throws.
   *
   * @param what the operation, for messages ("look up guest 1234")
   * @throws HostUnreachableException ({@link #HOST_HUNG}) when the host has not answered within
   *     the timeout, or when an earlier call to it is still unanswered past its own
   */
  public <T> T call(Host host, String what, Supplier<T> work) {
    long started = System.nanoTime();
    String outcome = "error";
    try {
      T result = callOnLane(host, what, work);
      outcome = "ok";
      return result;
    } catch (HostUnreachableException e) {
      outcome = "unreachable";
      throw e;
    } finally {
      HypervisorCallMetrics.record(daemon, host, outcome, System.nanoTime() - started);
    }
  }

  private <T> T callOnLane(Host host, String what, Supplier<T> work) {
    Lane lane = lane(host);
    refuseWhileHung(lane, host, what);
    // Aged from now, not from when a thread takes it: the caller's wait and the call's age must
    // agree, or a call given up on would not yet count as stuck on a busy machine.
    Running call = new Running(what);
    FutureTask<T> task = new FutureTask<>(LogContext.carrying(() -> lane.run(call, work)));
    lane.workers.execute(task);
    try {
      return task.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
    } catch (TimeoutException e) {
      abandon(lane, task);
      throw new HostUnreachableException(HOST_HUNG,
          daemon + " on " + host + " has not answered '" + what + "' for " + seconds(timeout), null);
    } catch (InterruptedException e) {
      abandon(lane, task);
      Thread.currentThread().interrupt();
      throw new HypervisorException("INTERRUPTED", "interrupted while waiting for " + daemon + " on " + host + " to " + what, e);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof RuntimeException runtime) {
        throw runtime;
      }
      if (cause instanceof Error error) {
        throw error;
      }
      throw new HypervisorException("FAILED", what + " on " + host + " failed: " + cause, cause);
    }
  }

  /**
   * Fails at once when the host is hung, for calls that run without a deadline on the caller's
   * own thread (long transfers): they should not start on a host that does not answer.
   */
  public void requireAnswering(Host host, String what) {
    refuseWhileHung(lane(host), host, what);
  }

  private void refuseWhileHung(Lane lane, Host host, String what) {
    Optional<Running> stuck = lane.stuck(timeout);
    if (stuck.isPresent()) {
      throw new HostUnreachableException(HOST_HUNG, daemon + " on " + host + " has not answered '" + stuck.get().what
          + "' for " + seconds(stuck.get().age()) + "; '" + what + "' is not sent until it does", null);
    }
  }

  /** A call whose caller gave up: dropped if it has not started, left to finish if it has. */
  private static void abandon(Lane lane, FutureTask<?> task) {
    task.cancel(false);
    lane.workers.remove(task);
  }

  private Lane lane(Host host) {
    return lanes.computeIfAbsent(host.endpoint(), endpoint -> new Lane(host.nodeName(), threadsPerHost));
  }

  /** Waits between two looks at a guest that was asked to shut down; an interrupt ends the wait. */
  public static void pauseForShutdown(Duration duration) {
    try {
      Thread.sleep(duration.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new HypervisorException("INTERRUPTED", "interrupted while waiting for a guest to shut down", e);
    }
  }

  /** "30 s", or "1.5 s" below ten seconds: how long a host was waited for, in messages. */
  public static String seconds(Duration duration) {
    long millis = duration.toMillis();
    return millis >= 10_000 || millis % 1000 == 0
        ? (millis / 1000) + " s"
        : String.format(Locale.ROOT, "%.1f s", millis / 1000.0);
  }

  @Override
  public void close() {
    lanes.values().forEach(lane -> lane.workers.shutdownNow());
    lanes.clear();
  }

  /** A call under way, since when (System.nanoTime); one object per call, equal only to itself. */
  private static final class Running {
    final String what;
    final long since = System.nanoTime();

    Running(String what) {
      this.what = what;
    }

    Duration age() {
      return Duration.ofNanos(System.nanoTime() - since);
    }
  }

  /** One host's threads and the calls they are running. */
  private static final class Lane {
    final ThreadPoolExecutor workers;
    final Set<Running> running = ConcurrentHashMap.newKeySet();

    Lane(String nodeName, int threads) {
      AtomicInteger count = new AtomicInteger();
      workers = new ThreadPoolExecutor(threads, threads, 60, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
        Thread t = new Thread(r, "host-call-" + nodeName + "-" + count.incrementAndGet());
        t.setDaemon(true);
        return t;
      });
      // A host nobody calls holds no threads.
      workers.allowCoreThreadTimeOut(true);
    }

    <T> T run(Running call, Supplier<T> work) {
      running.add(call);
      try {
        return work.get();
      } finally {
        running.remove(call);
      }
    }

    /** The longest-running call that is past the timeout, if any. */
    Optional<Running> stuck(Duration timeout) {
      return running.stream()
          .filter(call -> call.age().compareTo(timeout) >= 0)
          .min(Comparator.comparingLong(call -> call.since));
    }
  }
}
