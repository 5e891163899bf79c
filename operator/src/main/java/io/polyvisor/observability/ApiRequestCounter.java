package io.polyvisor.observability;

import io.fabric8.kubernetes.client.http.AsyncBody;
import io.fabric8.kubernetes.client.http.HttpRequest;
import io.fabric8.kubernetes.client.http.HttpResponse;
import io.fabric8.kubernetes.client.http.Interceptor;
import io.micrometer.core.instrument.Metrics;
import java.nio.ByteBuffer;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Counts the operator's requests to the API server by verb, resource and answer, as client-go's
 * {@code rest_client_requests_total} does for Kubernetes' own controllers: what a VM costs the
 * API server, read from {@code /metrics} as {@code polyvisor_api_requests_total}. Each attempt
 * counts (a request the client retries after a 429 or a 5xx counts twice); a watch counts when it
 * opens.
 */
public final class ApiRequestCounter implements Interceptor {

  private static final Logger log = LoggerFactory.getLogger(ApiRequestCounter.class);

  /** The name the interceptor is registered under on the client's HTTP client. */
  public static final String NAME = "polyvisor-api-requests";

  @Override
  public void after(HttpRequest request, HttpResponse<?> response, AsyncBody.Consumer<List<ByteBuffer>> consumer) {
    String query = request.uri().getRawQuery();
    boolean watch = query != null && (query.startsWith("watch=true") || query.contains("&watch=true"));
    // At debug, one line per request (as kubectl -v=6 says them): a timeline of what one VM costs.
    log.debug("{} {} {}", request.method(), request.uri().getRawPath(), response.code());
    Metrics.counter("polyvisor.api.requests", "verb", watch ? "WATCH" : request.method(),
        "resource", resourceOf(request.uri().getRawPath()), "code", String.valueOf(response.code())).increment();
  }

  @Override
  public void afterConnectionFailure(HttpRequest request, Throwable failure) {
    Metrics.counter("polyvisor.api.requests", "verb", request.method(), "resource", resourceOf(request.uri().getRawPath()),
        "code", "<error>").increment();
  }

  /**
   * The resource a request path names, with its subresource: {@code virtualmachines/status} for
   * {@code /apis/polyvisor.io/v1alpha1/namespaces/ns/virtualmachines/vm-1/status}; the path itself
   * for one outside the resource API ({@code /version}).
   */
  public static String resourceOf(String path) {
    String[] segments = path.split("/");
    // /api/v1/<resource>... or /apis/<group>/<version>/<resource>..., namespaced or not
    int at = segments.length > 1 && segments[1].equals("api") ? 3 : 4;
    if (segments.length < 2 || !(segments[1].equals("api") || segments[1].equals("apis"))) {
      return path;
    }
    if (at + 2 < segments.length && segments[at].equals("namespaces")) {
      at += 2;
    }
    String resource = at < segments.length ? segments[at] : path;
    if (at + 2 < segments.length) {
      resource += "/" + segments[at + 2];
    }
    return resource;
  }
}
