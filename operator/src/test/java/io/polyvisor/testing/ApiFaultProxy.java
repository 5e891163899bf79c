package io.polyvisor.testing;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.internal.SSLUtils;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;

/**
 * A fault-injecting HTTP proxy between the operators and the API server, on 127.0.0.1: the
 * operators speak plain HTTP/1.1 to it (their kubeconfig points here, without credentials) and it
 * forwards each request over TLS with the test API server's client certificate. One request per
 * connection (it asks both sides for {@code Connection: close}, except for upgrades), and bodies
 * are streamed both ways, so watches and exec-style upgrades work unchanged.
 *
 * <p>When told to {@link #misbehave}, it answers a share of the requests itself with 409
 * (writes), 429 (with Retry-After) or 500, drops a share of the connections (half before
 * forwarding, half once the API server has started to answer: the change is made, the client
 * never hears of it), and cuts every watch open at that instant. When told to {@link #refuse},
 * it closes its listening socket (connections are refused) and every open connection: the API
 * server as if it were restarting. When told to {@link #failNextReadsOf}, it refuses the next GETs
 * whose path contains a given part (one kind of object unreadable for a moment). Every injected error is
 * noted.
 */
public final class ApiFaultProxy implements AutoCloseable {

  private final URI upstream;
  private final SSLContext tls;
  private final Consumer<String> note;
  private final int port;
  private final ExecutorService threads = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "api-proxy");
    t.setDaemon(true);
    return t;
  });
  private final Set<Socket> open = ConcurrentHashMap.newKeySet();
  private final Set<Socket> watches = ConcurrentHashMap.newKeySet();
  private final Map<String, AtomicInteger> stats = new TreeMap<>();
  private volatile ServerSocket server;
  private volatile boolean closed;
  private volatile double errorRate;
  private volatile double dropRate;
  private volatile Random random = new Random(0);
  private volatile String unreadable;
  /** Requests forwarded, by kind ({@link #kindOf}), since {@link #takeRequestCounts}. */
  private final Map<String, AtomicInteger> requests = new ConcurrentHashMap<>();
  private final AtomicInteger readsToFail = new AtomicInteger();
  private final AtomicInteger readsFailed = new AtomicInteger();

  /** @param note told of every error the proxy injects, for the test's log */
  public ApiFaultProxy(String kubeconfigYaml, Consumer<String> note) throws Exception {
    Config config = Config.fromKubeconfig(kubeconfigYaml);
    this.upstream = URI.create(config.getMasterUrl());
    this.tls = SSLUtils.sslContext(config);
    this.note = note;
    this.server = listen(0);
    this.port = server.getLocalPort();
    threads.execute(this::acceptForever);
  }

  /** A kubeconfig that reaches the API server through this proxy. */
  public String kubeconfigYaml() {
    return """
        apiVersion: v1
        kind: Config
        clusters:
        - name: proxy
          cluster:
            server: http://127.0.0.1:%d
        contexts:
        - name: proxy
          context: {cluster: proxy, user: proxy, namespace: default}
        current-context: proxy
        users:
        - name: proxy
          user: {}
        """.formatted(port);
  }

  /**
   * The requests that reached the proxy since the last call, by kind: the method (WATCH for a
   * watch) and the resource, such as {@code PATCH virtualmachines/status}; then counts from zero.
   */
  public Map<String, Integer> takeRequestCounts() {
    Map<String, Integer> counts = new TreeMap<>();
    for (String kind : List.copyOf(requests.keySet())) {
      int n = requests.get(kind).getAndSet(0);
      if (n > 0) {
        counts.put(kind, n);
      }
    }
    return counts;
  }

  /** {@code METHOD resource[/subresource]} of a request to the Kubernetes API. */
  static String kindOf(Request request) {
    String resource = io.polyvisor.observability.ApiRequestCounter.resourceOf(request.path().split("\\?", 2)[0]);
    return (request.isWatch() ? "WATCH" : request.method()) + " " + resource;
  }

  /** From now on, answers {@code errorRate} of the requests with an error and drops {@code dropRate} of them. */
  public synchronized void misbehave(double errorRate, double dropRate, long seed) {
    synchronized (stats) {
      stats.clear();
    }
    this.random = new Random(seed);
    this.errorRate = errorRate;
    this.dropRate = dropRate;
    int cut = 0;
    for (Socket watch : watches) {
      closeQuietly(watch);
      cut++;
    }
    count("watches cut at the start", cut);
  }

  /** Forwards everything again; returns what was injected since {@link #misbehave}. */
  public synchronized String behave() {
    errorRate = 0;
    dropRate = 0;
    synchronized (stats) {
      return stats.isEmpty() ? "nothing" : stats.toString();
    }
  }

  /**
   * Answers 403 to the next {@code count} GETs whose path contains {@code pathPart}, as an API
   * server does while its authorization webhook cannot be reached: a refusal the client does not
   * retry (it retries 429 and 5xx itself).
   */
  public void failNextReadsOf(String pathPart, int count) {
    unreadable = pathPart;
    readsToFail.set(count);
  }

  /** How many reads {@link #failNextReadsOf} refused so far. */
  public int readsFailed() {
    return readsFailed.get();
  }

  /** Refuses connections (the listening socket closed) and drops every open one. */
  public synchronized void refuse() {
    ServerSocket listening = server;
    server = null;
    closeQuietly(listening);
    for (Socket socket : open) {
      closeQuietly(socket);
    }
  }

  /** Accepts connections again on the same port. */
  public synchronized void accept() {
    if (server != null || closed) {
      return;
    }
    for (int attempt = 0; attempt < 50 && server == null; attempt++) {
      try {
        server = listen(port);
      } catch (IOException e) {
        try {
          Thread.sleep(100);
        } catch (InterruptedException interrupted) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
    if (server == null) {
      throw new IllegalStateException("the proxy cannot listen on port " + port + " again");
    }
    notifyAll();
  }

  private static ServerSocket listen(int port) throws IOException {
    ServerSocket socket = new ServerSocket();
    socket.setReuseAddress(true);
    socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 200);
    return socket;
  }

  private void acceptForever() {
    while (!closed) {
      ServerSocket listening;
      synchronized (this) {
        while (server == null && !closed) {
          try {
            wait(200);
          } catch (InterruptedException e) {
            return;
          }
        }
        listening = server;
      }
      if (listening == null) {
        continue;
      }
      try {
        Socket client = listening.accept();
        open.add(client);
        threads.execute(() -> serve(client));
      } catch (IOException e) {
        // closed by refuse() or close(): wait for the next listening socket
      }
    }
  }

  private void serve(Socket client) {
    Socket upstreamSocket = null;
    try (client) {
      InputStream fromClient = new BufferedInputStream(client.getInputStream());
      Request request = Request.read(fromClient);
      if (request == null) {
        return;
      }
      requests.computeIfAbsent(kindOf(request), k -> new AtomicInteger()).incrementAndGet();
      String failing = unreadable;
      if (failing != null && request.method().equals("GET") && request.path().contains(failing)
          && readsToFail.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
        readsFailed.incrementAndGet();
        count("answered 403 to a read of " + failing, 1);
        note.accept("api: " + request.method() + " " + request.path() + " answered 403 by the proxy");
        respond(client.getOutputStream(), 403);
        return;
      }
      double errors = errorRate;
      double drops = dropRate;
      boolean watch = request.isWatch();
      if (!watch && !request.upgrade() && errors > 0 && chance(errors)) {
        int code = request.isWrite() ? List.of(409, 429, 500).get(randomInt(3)) : List.of(429, 500).get(randomInt(2));
        count("answered " + code, 1);
        note.accept("api: " + request.method() + " " + request.path() + " answered " + code + " by the proxy");
        respond(client.getOutputStream(), code);
        return;
      }
      boolean drop = drops > 0 && chance(drops);
      boolean dropBefore = drop && randomInt(2) == 0;
      if (dropBefore) {
        count("dropped before forwarding", 1);
        note.accept("api: " + request.method() + " " + request.path() + " dropped by the proxy before it was forwarded");
        return;
      }
      upstreamSocket = connectUpstream();
      open.add(upstreamSocket);
      if (watch) {
        watches.add(client);
      }
      OutputStream toUpstream = upstreamSocket.getOutputStream();
      toUpstream.write(request.forwardedHead(upstream.getHost() + ":" + upstreamPort()));
      toUpstream.flush();
      Socket up = upstreamSocket;
      threads.execute(() -> pump(fromClient, up, up));
      InputStream fromUpstream = upstreamSocket.getInputStream();
      if (drop) {
        // The API server has the whole request once it answers: drop the answer.
        int first = fromUpstream.read();
        count("dropped after forwarding", 1);
        note.accept("api: " + request.method() + " " + request.path() + " forwarded, then dropped by the proxy before the answer"
            + (first < 0 ? " (none came)" : ""));
        if (watch) {
          return;
        }
        return;
      }
      if (watch && drops > 0) {
        // Cut a watch opened while misbehaving after a random while.
        Socket w = client;
        long after = 500 + randomInt(3000);
        threads.execute(() -> {
          sleep(after);
          closeQuietly(w);
        });
      }
      pump(fromUpstream, client, upstreamSocket);
    } catch (IOException e) {
      // a side went away: the connection ends
    } finally {
      open.remove(client);
      watches.remove(client);
      if (upstreamSocket != null) {
        open.remove(upstreamSocket);
        closeQuietly(upstreamSocket);
      }
    }
  }

  private Socket connectUpstream() throws IOException {
    SSLSocket socket = (SSLSocket) tls.getSocketFactory().createSocket(upstream.getHost(), upstreamPort());
    socket.startHandshake();
    return socket;
  }

  private int upstreamPort() {
    return upstream.getPort() > 0 ? upstream.getPort() : 443;
  }

  /** Copies {@code in} to {@code out}'s socket until either ends, then closes {@code toClose}. */
  private static void pump(InputStream in, Socket out, Socket toClose) {
    byte[] buffer = new byte[16384];
    try {
      OutputStream stream = out.getOutputStream();
      int n;
      while ((n = in.read(buffer)) >= 0) {
        stream.write(buffer, 0, n);
        stream.flush();
      }
    } catch (IOException e) {
      // one side closed
    } finally {
      closeQuietly(toClose);
    }
  }

  private static void respond(OutputStream out, int code) throws IOException {
    String reason = switch (code) {
      case 409 -> "Conflict";
      case 429 -> "TooManyRequests";
      case 403 -> "Forbidden";
      default -> "InternalError";
    };
    String body = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"injected by the"
        + " tests' fault proxy\",\"reason\":\"" + reason + "\",\"code\":" + code + "}";
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    String head = "HTTP/1.1 " + code + " " + reason + "\r\nContent-Type: application/json\r\nContent-Length: " + bytes.length
        + "\r\n" + (code == 429 ? "Retry-After: 1\r\n" : "") + "Connection: close\r\n\r\n";
    out.write(head.getBytes(StandardCharsets.US_ASCII));
    out.write(bytes);
    out.flush();
  }

  private synchronized boolean chance(double p) {
    return random.nextDouble() < p;
  }

  private synchronized int randomInt(int bound) {
    return random.nextInt(bound);
  }

  private void count(String what, int n) {
    synchronized (stats) {
      stats.computeIfAbsent(what, k -> new AtomicInteger()).addAndGet(n);
    }
  }

  /** The head of one HTTP/1.1 request. */
  record Request(String method, String path, String version, List<String[]> headers) {

    static Request read(InputStream in) throws IOException {
      ByteArrayOutputStream head = new ByteArrayOutputStream();
      int matched = 0;
      int b;
      while ((b = in.read()) >= 0) {
        head.write(b);
        matched = (b == "\r\n\r\n".charAt(matched)) ? matched + 1 : (b == '\r' ? 1 : 0);
        if (matched == 4) {
          break;
        }
        if (head.size() > 65536) {
          throw new IOException("request head too long");
        }
      }
      if (matched != 4) {
        return null;
      }
      String[] lines = head.toString(StandardCharsets.ISO_8859_1).split("\r\n");
      String[] first = lines[0].split(" ", 3);
      if (first.length < 3) {
        throw new IOException("bad request line: " + lines[0]);
      }
      List<String[]> headers = new ArrayList<>();
      for (int i = 1; i < lines.length; i++) {
        int colon = lines[i].indexOf(':');
        if (colon > 0) {
          headers.add(new String[] {lines[i].substring(0, colon).trim(), lines[i].substring(colon + 1).trim()});
        }
      }
      return new Request(first[0], first[1], first[2], headers);
    }

    String header(String name) {
      return headers.stream().filter(h -> h[0].equalsIgnoreCase(name)).map(h -> h[1]).findFirst().orElse(null);
    }

    boolean isWatch() {
      return path.contains("watch=true") || path.contains("watch=1");
    }

    boolean isWrite() {
      return !method.equals("GET") && !method.equals("HEAD");
    }

    /** A protocol upgrade other than h2c (which the proxy does not offer). */
    boolean upgrade() {
      String upgrade = header("Upgrade");
      return upgrade != null && !upgrade.toLowerCase(Locale.ROOT).contains("h2c");
    }

    /** The head to send upstream: the upstream's Host, one request per connection, no h2c upgrade offer. */
    byte[] forwardedHead(String host) {
      StringBuilder out = new StringBuilder(method + " " + path + " " + version + "\r\n");
      boolean upgrade = upgrade();
      for (String[] h : headers) {
        String name = h[0].toLowerCase(Locale.ROOT);
        if (name.equals("host") || name.equals("proxy-connection") || name.equals("keep-alive") || name.equals("http2-settings")
            || (!upgrade && (name.equals("connection") || name.equals("upgrade")))) {
          continue;
        }
        out.append(h[0]).append(": ").append(h[1]).append("\r\n");
      }
      out.append("Host: ").append(host).append("\r\n");
      if (!upgrade) {
        out.append("Connection: close\r\n");
      }
      out.append("\r\n");
      return out.toString().getBytes(StandardCharsets.ISO_8859_1);
    }
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void closeQuietly(AutoCloseable closeable) {
    if (closeable != null) {
      try {
        closeable.close();
      } catch (Exception e) {
        // already closed
      }
    }
  }

  @Override
  public void close() {
    closed = true;
    refuse();
    threads.shutdownNow();
  }
}
