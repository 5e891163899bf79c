package io.polyvisor.driver.libvirt;

import io.polyvisor.driver.Host;
import io.polyvisor.driver.HostUnreachableException;
import io.polyvisor.driver.HypervisorException;
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
 */
final class LibvirtConnections implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(LibvirtConnections.class);
  /** Probe every 5 s, give up after 3 unanswered probes: a dead host is noticed within ~20 s. */
  private static final int KEEPALIVE_INTERVAL_SECONDS = 5;
  private static final int KEEPALIVE_COUNT = 3;

  private static Thread eventLoop;

  private final Map<String, LibvirtConnection> byEndpoint = new ConcurrentHashMap<>();
  /** What to undo on each connection before it is closed: libvirt calls back into closed ones otherwise. */
  private final Map<LibvirtConnection, Runnable> beforeClose = new ConcurrentHashMap<>();
  private final BiFunction<Host, LibvirtConnection, Runnable> onOpen;

  /**
   * @param onOpen called on every newly opened connection, e.g. to register event listeners; it
   *     returns what undoes that, run before the connection closes
   */
  LibvirtConnections(BiFunction<Host, LibvirtConnection, Runnable> onOpen) {
    startEventLoop();
    this.onOpen = onOpen;
  }

  /** A work item on a connection. */
  @FunctionalInterface
  interface Call<T> {
    T on(LibvirtConnection connection) throws LibvirtException;
  }

  /**
   * Runs {@code call} on the host's connection. {@code what} names the operation for error
   * messages ("define domain ns/vm", ...).
   */
  <T> T call(Host host, String what, Call<T> call) {
    LibvirtConnection connection = connection(host);
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
        return call.on(connection(host));
      } catch (LibvirtException second) {
        throw LibvirtErrors.translate(second, host, what, false);
      }
    }
  }

  /** The host's open connection, opening (or reopening) it when needed. */
  LibvirtConnection connection(Host host) {
    LibvirtConnection existing = byEndpoint.get(host.endpoint());
    if (existing != null && alive(existing)) {
      return existing;
    }
    if (existing != null) {
      discard(host, existing);
    }
    synchronized (this) {
      LibvirtConnection current = byEndpoint.get(host.endpoint());
      if (current != null && alive(current)) {
        return current;
      }
      LibvirtConnection opened = open(host);
      byEndpoint.put(host.endpoint(), opened);
      return opened;
    }
  }

  private LibvirtConnection open(Host host) {
    LibvirtConnection connection;
    try {
      connection = new LibvirtConnection(host.endpoint());
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

  private void discard(Host host, LibvirtConnection connection) {
    byEndpoint.remove(host.endpoint(), connection);
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

  @Override
  public void close() {
    byEndpoint.forEach((endpoint, connection) -> closeQuietly(endpoint, connection));
    byEndpoint.clear();
  }
}
