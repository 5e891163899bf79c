package io.polyvisor.faults;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.DomainInfo.DomainState;
import org.libvirt.LibvirtException;

/**
 * Samples what every host runs, each host on a thread of its own (a hung libvirtd holds up only
 * its own samples), one sample at least every {@link #PERIOD}, straight through libvirt-java
 * rather than the operator's driver, so that it sees what libvirt says whatever the operator
 * believes. A read that fails is skipped for that host; the log says when a host became
 * unreadable and readable again.
 *
 * <p>Running twice: a guest counts as running on a host over the span between two consecutive
 * samples that both read it RUNNING (end of the first read to start of the second). Two hosts
 * whose spans overlap ran it at the same instant. A live switch-over cannot produce that (the
 * source pauses before the target resumes, so at most one of them has two RUNNING samples in a
 * row around it); a paused copy never counts.
 */
final class HostWatcher implements AutoCloseable {

  static final Duration PERIOD = Duration.ofMillis(40);
  private static final long SLOW_MILLIS = 100;
  /** A read that took longer than this waited for a hung daemon (SIGSTOP): not counted as late. */
  private static final long HUNG_MILLIS = 1000;

  /** What a host holds of a guest. */
  enum State { RUNNING, PAUSED, SHUT_OFF, OTHER }

  /** One guest (a libvirt domain of the campaign's namespace) on one host. */
  record Copy(String uid, String name, State state, String libvirtState) {}

  /** One successful read of a host: every guest of ours on it, read between the two instants. */
  record Sample(String host, long startNanos, long endNanos, Instant at, Map<String, Copy> copies) {}

  private final Map<String, String> endpoints;
  private final String domainPrefix;
  private final CampaignLog log;
  private final Duplicates duplicates;
  private final Function<String, String> describe;
  private final Map<String, Sample[]> lastTwo = new ConcurrentHashMap<>();
  private final Map<String, Long> samples = new ConcurrentHashMap<>();
  private final Map<String, Long> longestGapMillis = new ConcurrentHashMap<>();
  private final Map<String, Long> slowIntervals = new ConcurrentHashMap<>();
  private final Map<String, Long> hungReads = new ConcurrentHashMap<>();
  private final List<Thread> threads = new ArrayList<>();
  private volatile boolean stopped;

  /**
   * @param endpoints libvirt URI by host name
   * @param domainPrefix the domain name prefix of the campaign's guests ({@code <namespace>_})
   * @param describe a uid as the log names it (namespace/name and uid prefix)
   */
  HostWatcher(Map<String, String> endpoints, String domainPrefix, CampaignLog log, Duplicates duplicates,
      Function<String, String> describe) {
    this.endpoints = new LinkedHashMap<>(endpoints);
    this.domainPrefix = domainPrefix;
    this.log = log;
    this.duplicates = duplicates;
    this.describe = describe;
  }

  void start() {
    for (String host : endpoints.keySet()) {
      Thread thread = new Thread(() -> sampleForever(host), "watch-" + host);
      thread.setDaemon(true);
      threads.add(thread);
      thread.start();
    }
  }

  /** The newest sample of the host, if any read ever succeeded. */
  Optional<Sample> latest(String host) {
    Sample[] two = lastTwo.get(host);
    return two == null ? Optional.empty() : Optional.ofNullable(two[1]);
  }

  /**
   * Waits for a sample of every host that started after now: what the hosts hold from this
   * instant on. Empty for a host that could not be read within {@code timeout}.
   */
  Map<String, Optional<Sample>> fresh(Duration timeout) throws InterruptedException {
    long since = System.nanoTime();
    long deadline = since + timeout.toNanos();
    Map<String, Optional<Sample>> fresh = new TreeMap<>();
    for (String host : endpoints.keySet()) {
      Optional<Sample> sample = Optional.empty();
      while (System.nanoTime() < deadline) {
        Optional<Sample> latest = latest(host);
        if (latest.isPresent() && latest.get().startNanos() >= since) {
          sample = latest;
          break;
        }
        Thread.sleep(20);
      }
      fresh.put(host, sample);
    }
    return fresh;
  }

  /**
   * Per host: samples taken, how many came more than 100 ms after the one before (while the host
   * was readable and answering: a host that is down or hung is skipped, not late), the longest
   * such interval, and how many reads waited over a second for a hung daemon.
   */
  String statistics() {
    StringBuilder text = new StringBuilder();
    for (String host : endpoints.keySet()) {
      text.append(host).append(": ").append(samples.getOrDefault(host, 0L)).append(" samples, ")
          .append(slowIntervals.getOrDefault(host, 0L)).append(" over ").append(SLOW_MILLIS).append(" ms apart, longest ")
          .append(longestGapMillis.getOrDefault(host, 0L)).append(" ms, ").append(hungReads.getOrDefault(host, 0L))
          .append(" reads held up by a hung daemon; ");
    }
    return text.toString().trim();
  }

  private void sampleForever(String host) {
    Connect connection = null;
    Sample previous = null;
    String unreadableSince = null;
    long lastStart = -1;
    while (!stopped) {
      long start = System.nanoTime();
      try {
        if (connection == null) {
          connection = new Connect(endpoints.get(host));
        }
        Map<String, Copy> copies = read(connection);
        long end = System.nanoTime();
        Sample sample = new Sample(host, start, end, Instant.now(), copies);
        samples.merge(host, 1L, Long::sum);
        if (lastStart >= 0) {
          long interval = (start - lastStart) / 1_000_000;
          if (interval > HUNG_MILLIS) {
            hungReads.merge(host, 1L, Long::sum);
          } else {
            longestGapMillis.merge(host, interval, Math::max);
            if (interval > SLOW_MILLIS) {
              slowIntervals.merge(host, 1L, Long::sum);
            }
          }
        }
        lastStart = start;
        if (unreadableSince != null) {
          log.note(host + ": readable again (unreadable since " + unreadableSince + ")");
          unreadableSince = null;
        }
        logChanges(host, previous, sample);
        previous = sample;
        publish(host, sample);
      } catch (LibvirtException | RuntimeException e) {
        if (unreadableSince == null) {
          unreadableSince = CampaignLog.clock(Instant.now());
          log.note(host + ": unreadable (" + oneLine(e.getMessage()) + ")");
        }
        close(connection);
        connection = null;
        lastStart = -1;
      }
      long spent = System.nanoTime() - start;
      sleep(Math.max(5, PERIOD.toMillis() - spent / 1_000_000));
    }
    close(connection);
  }

  private Map<String, Copy> read(Connect connection) throws LibvirtException {
    Map<String, Copy> copies = new TreeMap<>();
    for (int id : connection.listDomains()) {
      Domain domain;
      try {
        domain = connection.domainLookupByID(id);
      } catch (LibvirtException gone) {
        continue; // stopped between the listing and the lookup
      }
      add(copies, domain);
    }
    for (String name : connection.listDefinedDomains()) {
      if (!name.startsWith(domainPrefix)) {
        continue;
      }
      try {
        add(copies, connection.domainLookupByName(name));
      } catch (LibvirtException gone) {
        // undefined between the listing and the lookup
      }
    }
    return copies;
  }

  private void add(Map<String, Copy> copies, Domain domain) throws LibvirtException {
    try {
      String name = domain.getName();
      if (!name.startsWith(domainPrefix)) {
        return;
      }
      DomainState state;
      try {
        state = domain.getInfo().state;
      } catch (LibvirtException gone) {
        return;
      }
      String uid = domain.getUUIDString();
      copies.put(uid, new Copy(uid, name.substring(domainPrefix.length()), of(state), state.name()));
    } finally {
      domain.free();
    }
  }

  private static State of(DomainState state) {
    return switch (state) {
      case VIR_DOMAIN_RUNNING, VIR_DOMAIN_BLOCKED -> State.RUNNING;
      case VIR_DOMAIN_PAUSED -> State.PAUSED;
      case VIR_DOMAIN_SHUTOFF -> State.SHUT_OFF;
      default -> State.OTHER;
    };
  }

  /** Records the sample and checks it against the other hosts' for a guest running twice. */
  private synchronized void publish(String host, Sample sample) {
    Sample[] two = lastTwo.computeIfAbsent(host, h -> new Sample[2]);
    two[0] = two[1];
    two[1] = sample;
    if (two[0] == null) {
      return;
    }
    for (Copy copy : sample.copies().values()) {
      if (copy.state() != State.RUNNING || !runningIn(two[0], copy.uid())) {
        continue;
      }
      long from = two[0].endNanos();
      long to = sample.startNanos();
      for (Map.Entry<String, Sample[]> other : lastTwo.entrySet()) {
        Sample[] o = other.getValue();
        if (other.getKey().equals(host) || o[0] == null || !runningIn(o[0], copy.uid()) || !runningIn(o[1], copy.uid())) {
          continue;
        }
        long otherFrom = o[0].endNanos();
        long otherTo = o[1].startNanos();
        if (Math.max(from, otherFrom) < Math.min(to, otherTo)) {
          duplicates.seen(copy.uid(), describe.apply(copy.uid()), "hosts",
              "RUNNING on " + host + " (samples " + clock(two[0]) + ", " + clock(sample) + ") and on " + other.getKey()
                  + " (samples " + clock(o[0]) + ", " + clock(o[1]) + ")");
        }
      }
    }
    duplicates.expire(describe);
  }

  private static boolean runningIn(Sample sample, String uid) {
    Copy copy = sample.copies().get(uid);
    return copy != null && copy.state() == State.RUNNING;
  }

  /** One line per change of a guest's state on a host: the hosts' side of the timeline. */
  private void logChanges(String host, Sample previous, Sample current) {
    Map<String, Copy> before = previous == null ? Map.of() : previous.copies();
    for (Copy copy : current.copies().values()) {
      Copy was = before.get(copy.uid());
      if (was == null || !was.libvirtState().equals(copy.libvirtState())) {
        log.note(host + ": " + describe.apply(copy.uid()) + " " + (was == null ? "absent" : short_(was)) + " -> " + short_(copy));
      }
    }
    for (Copy was : before.values()) {
      if (!current.copies().containsKey(was.uid())) {
        log.note(host + ": " + describe.apply(was.uid()) + " " + short_(was) + " -> absent");
      }
    }
  }

  private static String short_(Copy copy) {
    return copy.libvirtState().replace("VIR_DOMAIN_", "");
  }

  private static String clock(Sample sample) {
    return CampaignLog.clock(sample.at());
  }

  private static String oneLine(String message) {
    return message == null ? "no message" : message.replaceAll("\\s+", " ").trim();
  }

  private static void close(Connect connection) {
    if (connection != null) {
      try {
        connection.close();
      } catch (LibvirtException | RuntimeException e) {
        // gone already
      }
    }
  }

  private static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() {
    stopped = true;
    for (Thread thread : threads) {
      try {
        thread.join(2000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
