package io.polyvisor.observability;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.javaoperatorsdk.operator.RuntimeInfo;
import io.javaoperatorsdk.operator.health.InformerHealthIndicator;
import io.javaoperatorsdk.operator.health.InformerWrappingEventSourceHealthIndicator;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.polyvisor.driver.Drivers;
import io.polyvisor.driver.HypervisorDriver;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operator's HTTP endpoints, for the kubelet's probes and for Prometheus:
 *
 * <ul>
 *   <li>{@code /healthz} (liveness): 503 once an informer has stopped for good or a driver cannot
 *       work any more (libvirt's event loop died), naming what; restarting the process is the cure.
 *   <li>{@code /readyz} (readiness): 200 once the operator has started and every informer has
 *       synced and runs.
 *   <li>{@code /metrics}: everything the process counts, in Prometheus' text format.
 * </ul>
 */
public final class OperatorEndpoints implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(OperatorEndpoints.class);

  private final HttpServer server;
  private final Supplier<RuntimeInfo> runtime;
  private final Drivers drivers;
  private final PrometheusMeterRegistry registry;

  private OperatorEndpoints(HttpServer server, Supplier<RuntimeInfo> runtime, Drivers drivers, PrometheusMeterRegistry registry) {
    this.server = server;
    this.runtime = runtime;
    this.drivers = drivers;
    this.registry = registry;
  }

  /** Where to listen: POLYVISOR_HTTP_ADDRESS (every address) and POLYVISOR_HTTP_PORT (8080; 0 takes a free one). */
  public record Listen(String address, int port) {

    public static Listen from(Map<String, String> env) {
      String address = env.getOrDefault("POLYVISOR_HTTP_ADDRESS", "").trim();
      return new Listen(address.isEmpty() ? "0.0.0.0" : address, OperatorEndpoints.port(env));
    }
  }

  /** Listens where told (port 0: a free port, said in the log). */
  public static OperatorEndpoints start(Listen listen, Supplier<RuntimeInfo> runtime, Drivers drivers, PrometheusMeterRegistry registry)
      throws IOException {
    HttpServer server = HttpServer.create(new InetSocketAddress(listen.address(), listen.port()), 0);
    OperatorEndpoints endpoints = new OperatorEndpoints(server, runtime, drivers, registry);
    server.createContext("/healthz", e -> endpoints.answer(e, endpoints.liveness()));
    server.createContext("/readyz", e -> endpoints.answer(e, endpoints.readiness()));
    server.createContext("/metrics", e -> endpoints.metrics(e));
    server.setExecutor(Executors.newFixedThreadPool(2, r -> {
      Thread t = new Thread(r, "http-endpoints");
      t.setDaemon(true);
      return t;
    }));
    server.start();
    log.info("HTTP endpoints (/healthz, /readyz, /metrics) on port {}", endpoints.port());
    return endpoints;
  }

  public int port() {
    return server.getAddress().getPort();
  }

  /** POLYVISOR_HTTP_PORT (8080); 0 takes a free port, which the log says. */
  static int port(Map<String, String> env) {
    String value = env.getOrDefault("POLYVISOR_HTTP_PORT", "").trim();
    if (value.isEmpty()) {
      return 8080;
    }
    try {
      int port = Integer.parseInt(value);
      if (port < 0 || port > 65535) {
        throw new NumberFormatException();
      }
      return port;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("POLYVISOR_HTTP_PORT must be a port number (0 to 65535), not '" + value + "'");
    }
  }

  /** What keeps the process from working; empty when it is alive. */
  List<String> liveness() {
    List<String> problems = new ArrayList<>();
    RuntimeInfo info = runtime.get();
    if (info != null && info.isStarted()) {
      // Not watching is a reconnect in progress (an API server restart): only a stopped informer is fatal.
      info.unhealthyInformerWrappingEventSourceHealthIndicator().forEach((controller, sources) -> sources.forEach((name, source) -> {
        Map<String, InformerHealthIndicator> informers = ((InformerWrappingEventSourceHealthIndicator<?>) source).informerHealthIndicators();
        if (informers.values().stream().anyMatch(informer -> !informer.isRunning())) {
          problems.add("the informer " + name + " of " + controller + " has stopped");
        }
      }));
    }
    for (HypervisorDriver driver : drivers.all()) {
      driver.problem().ifPresent(problems::add);
    }
    return problems;
  }

  /** What keeps the process from serving yet; empty when it is ready. */
  List<String> readiness() {
    RuntimeInfo info = runtime.get();
    if (info == null || !info.isStarted()) {
      return List.of("the operator is starting");
    }
    List<String> problems = new ArrayList<>(liveness());
    info.unhealthyEventSources().forEach((controller, sources) -> sources.keySet().forEach(name ->
        problems.add("the event source " + name + " of " + controller + " is not synced or not running")));
    return problems;
  }

  private void answer(HttpExchange exchange, List<String> problems) throws IOException {
    String body = problems.isEmpty() ? "ok\n" : String.join("\n", problems) + "\n";
    send(exchange, problems.isEmpty() ? 200 : 503, "text/plain; charset=utf-8", body);
  }

  private void metrics(HttpExchange exchange) throws IOException {
    send(exchange, 200, "text/plain; version=0.0.4; charset=utf-8", registry.scrape());
  }

  private static void send(HttpExchange exchange, int code, String type, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", type);
    exchange.sendResponseHeaders(code, bytes.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(bytes);
    }
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
