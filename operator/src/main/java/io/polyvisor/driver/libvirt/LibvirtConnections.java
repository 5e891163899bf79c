package io.polyvisor.driver.libvirt;

import io.polyvisor.driver.Host;
import io.polyvisor.driver.HostCalls;
import io.polyvisor.driver.HostUnreachableException;
import io.polyvisor.driver.HypervisorException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiFunction;
import org.libvirt.Connect;
import org.libvirt.Library;
import org.libvirt.LibvirtException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One shared libvirt connection per host endpoint. Connections carry keepalive probes (so a dead
 * daemon is noticed) and are reopened on the next call after they break, e.g. when libvirtd
 * restarts; a call that fails because the connection broke is retried once on a fresh one.
 *
 * <p>Deadlines. Keepalive notices a daemon that is gone or stopped, but not one that answers its
 * probes while its workers are stuck (a storage pool on an NFS server that died: libvirtd's
 * worker waits in the kernel, the call waits for libvirtd). So every call, and every opening of
 * a connection, runs through {@link HostCalls}: on a few threads of its host, its caller waiting
 * at most the call timeout ({@code POLYVISOR_HYPERVISOR_CALL_TIMEOUT_SECONDS}) before it gets a
 * {@code HOST_HUNG} {@link HostUnreachableException}, and calls to a host whose earlier call is
 * stuck past the timeout fail at once. Other hosts are never held up.
 *
 * <p>The rule for long calls: an operation whose duration grows with the bytes it moves (a volume
 * cloned from a file or streamed from http, disks copied to another host) goes through {@link
 * #longCall}, which has no deadline and runs on the caller's own thread, so that a copy of a large
 * disk neither times out nor holds one of the host's few threads for an hour. It does not start
 * while the host is hung, opens its connection under the deadline, and relies on keepalive to
 * break off when the daemon dies. Everything else goes through {@link #call}. The live migration
 * itself runs on a thread of its own ({@link LibvirtMigration}); only starting it is a call.
 */
final class LibvirtConnections implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(LibvirtConnections.class);
  /** Probe every 5 s, give up after 3 unanswered probes: a dead host is noticed within ~20 s. */
  private static final int KEEPALIVE_INTERVAL_SECONDS = 5;
  private static final int KEEPALIVE_COUNT = 3;

  private static Thread eventLoop;

  private final Map<String, LibvirtConnection> byEndpoint = new ConcurrentHashMap<>();
  /** The host last called at each endpoint, to name it when its connection is closed. */
  private final Map<String, Host> hosts = new ConcurrentHashMap<>();
  /** One lock per endpoint, so that opening a connection to a host that hangs blocks no other host. */
  private final Map<String, Object> opening = new ConcurrentHashMap<>();
  /** What to undo on each connection before it is closed: libvirt calls back into closed ones otherwise. */
  private final Map<LibvirtConnection, Runnable> beforeClose = new ConcurrentHashMap<>();
  private final BiFunction<Host, LibvirtConnection, Runnable> onOpen;
  private final LibvirtCredentials credentials;
  private final HostCalls calls;

  /**
   * @param onOpen called on every newly opened connection, e.g. to register event listeners; it
   *     returns what undoes that, run before the connection closes
   * @param callTimeout how long a caller waits for one call (not for a {@link #longCall})
   * @param credentials where each host's TLS client files are
   */
  LibvirtConnections(BiFunction<Host, LibvirtConnection, Runnable> onOpen, Duration callTimeout, LibvirtCredentials credentials) {
    startEventLoop();
    this.onOpen = onOpen;
    this.credentials = credentials;
    this.calls = new HostCalls("libvirtd", callTimeout);
  }

  /** A work item on a connection. */
  @FunctionalInterface
  interface Call<T> {
    T on(LibvirtConnection connection) throws LibvirtException;
  }

  /**
   * Runs {@code call} on the host's connection, on one of the host's threads, waiting at most the
   * call timeout. {@code what} names the operation for error messages ("define domain ns/vm", ...).
   *
   * @throws HostUnreachableException {@code HOST_HUNG} when libvirtd has not answered in time
   */
  <T> T call(Host host, String what, Call<T> call) {
    return calls.call(host, what, () -> run(host, what, call));
  }

  /**
   * Runs {@code call} without a deadline on the caller's thread: for operations that take as long
   * as the bytes they move (see the class comment). Refused at once while the host is hung.
   */
  <T> T longCall(Host host, String what, Call<T> call) {
    calls.requireAnswering(host, what);
    connection(host);
    return run(host, what, call);
  }

  private <T> T run(Host host, String what, Call<T> call) {
    LibvirtConnection connection = openConnection(host);
    try {
      return call.on(connection);
    } catch (LibvirtException first) {
      // libvirt reports OS errors on the host and a dead connection alike (VIR_ERR_SYSTEM_ERROR):
      // only a connection that no longer answers is worth reopening.
      if (alive(connection) || !LibvirtErrors.isConnectionError(first)) {
        throw LibvirtErrors.translate(first, host, what, true);
      }
      log.info("connection to {} broke ({}); reconnecting", host, first.getMessage());
      discard(host, connection);
      try {
        return call.on(openConnection(host));
      } catch (LibvirtException second) {
        throw LibvirtErrors.translate(second, host, what, false);
      }
    }
  }

  /**
   * The host's open connection, opening (or reopening) it when needed within the call timeout, for
   * callers that need a second host's connection inside a call on the first.
   */
  LibvirtConnection connection(Host host) {
    return calls.call(host, "connect", () -> openConnection(host));
  }

  /** The host's open connection, opened (or reopened) on the calling thread when needed. */
  private LibvirtConnection openConnection(Host host) {
    String key = key(host);
    hosts.put(key, host);
    LibvirtConnection existing = byEndpoint.get(key);
    if (existing != null && alive(existing)) {
      return existing;
    }
    if (existing != null) {
      discard(host, existing);
    }
    synchronized (opening.computeIfAbsent(key, k -> new Object())) {
      LibvirtConnection current = byEndpoint.get(key);
      if (current != null && alive(current)) {
        return current;
      }
      LibvirtConnection opened = open(host);
      byEndpoint.put(key, opened);
      return opened;
    }
  }

  private LibvirtConnection open(Host host) {
    LibvirtConnection connection;
    try {
      connection = new LibvirtConnection(LibvirtCredentials.connectUri(host.endpoint(), credentials.pkiFolder(host)));
    } catch (LibvirtException e) {
      throw new HostUnreachableException(
          LibvirtErrors.code(e).name(), "cannot connect to " + host + ": " + e.getMessage(), e);
    }
    try {
      connection.setKeepAlive(KEEPALIVE_INTERVAL_SECONDS, KEEPALIVE_COUNT);
    } catch (LibvirtException e) {
      // Local and test:// connections do not support keepalive; they cannot break silently either.
      log.debug("no keepalive on {}: {}", host, e.getMessage());
    }
    beforeClose.put(connection, onOpen.apply(host, connection));
    log.info("connected to {}", host);
    return connection;
  }

  /**
   * One connection per endpoint and credentials: two classes may reach one host with different
   * certificates, and each must see what its own give it.
   */
  private static String key(Host host) {
    return host.endpoint() + host.credentials().map(secret -> " as " + secret).orElse("");
  }

  private void discard(Host host, LibvirtConnection connection) {
    byEndpoint.remove(key(host), connection);
    closeQuietly(host.toString(), connection);
  }

  private void closeQuietly(String what, LibvirtConnection connection) {
    Runnable undo = beforeClose.remove(connection);
    try {
      if (undo != null) {
        undo.run();
      }
      connection.close();
    } catch (LibvirtException | RuntimeException e) {
      log.debug("closing the connection to {}: {}", what, e.getMessage());
    }
  }

  private static boolean alive(Connect connection) {
    try {
      return connection.isAlive();
    } catch (LibvirtException e) {
      return false;
    }
  }

  /** Whether libvirt's event loop, once started, still runs (without it no event or keepalive arrives). */
  static synchronized boolean eventLoopRuns() {
    return eventLoop == null || eventLoop.isAlive();
  }

  /**
   * libvirt delivers domain events and keepalive probes only while an event loop runs; one per JVM,
   * registered before the first connection opens.
   */
  private static synchronized void startEventLoop() {
    if (eventLoop != null) {
      return;
    }
    try {
      Library.initEventLoop();
    } catch (LibvirtException e) {
      throw new HypervisorException(LibvirtErrors.code(e).name(), "cannot start libvirt's event loop: " + e.getMessage(), e);
    }
    eventLoop =
        new Thread(
            () -> {
              try {
                Library.runEventLoop();
              } catch (LibvirtException e) {
                log.error("libvirt event loop stopped: {}", e.getMessage());
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            },
            "libvirt-event-loop");
    eventLoop.setDaemon(true);
    eventLoop.start();
  }

  /**
   * Closes every connection, each within the call timeout (closing talks to the daemon too: a hung
   * one is left to the keepalive), then lets the hosts' threads go.
   */
  @Override
  public void close() {
    byEndpoint.forEach((key, connection) -> {
      Host host = hosts.getOrDefault(key, new Host(key, key));
      try {
        calls.call(host, "close the connection", () -> {
          closeQuietly(host.toString(), connection);
          return null;
        });
      } catch (HypervisorException e) {
        log.warn("closing the connection to {}: {}", host, e.getMessage());
      }
    });
    byEndpoint.clear();
    calls.close();
  }
}
