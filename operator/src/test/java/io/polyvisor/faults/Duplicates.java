package io.polyvisor.faults;

import io.polyvisor.faults.CampaignLog.Anomaly;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;

/**
 * Episodes of a guest running twice, from either witness: the host watcher (two hosts report it
 * running at overlapping instants) or the console (two copies write their counts into the one
 * console file). One episode is counted once, however many samples and witnesses see it; it ends
 * when nothing has confirmed it for {@link #QUIET}.
 */
final class Duplicates {

  static final Duration QUIET = Duration.ofSeconds(3);

  private final CampaignLog log;
  private final Map<String, Episode> open = new HashMap<>();
  private int episodes;

  Duplicates(CampaignLog log) {
    this.log = log;
  }

  private static final class Episode {
    final Instant first;
    Instant last;
    String witnesses;
    String detail;

    Episode(Instant first, String witness, String detail) {
      this.first = first;
      this.last = first;
      this.witnesses = witness;
      this.detail = detail;
    }
  }

  /** {@code vm} is seen running twice now, by {@code witness} ("hosts", "console"). */
  synchronized void seen(String uid, String vm, String witness, String detail) {
    Instant now = Instant.now();
    Episode episode = open.get(uid);
    if (episode != null && Duration.between(episode.last, now).compareTo(QUIET) <= 0) {
      episode.last = now;
      episode.detail = detail;
      if (!episode.witnesses.contains(witness)) {
        episode.witnesses += "+" + witness;
        log.note("duplicate of " + vm + " confirmed by the " + witness + ": " + detail);
      }
      return;
    }
    open.put(uid, new Episode(now, witness, detail));
    episodes++;
    log.anomaly(Anomaly.DUPLICATED, vm, "running twice (seen by the " + witness + "): " + detail);
  }

  /** Closes the episodes nothing has confirmed for a while, logging how long each lasted. */
  synchronized void expire(java.util.function.Function<String, String> describe) {
    Instant now = Instant.now();
    open.entrySet().removeIf(e -> {
      Episode episode = e.getValue();
      if (Duration.between(episode.last, now).compareTo(QUIET) <= 0) {
        return false;
      }
      log.note("duplicate of " + describe.apply(e.getKey()) + " over: lasted at least "
          + Duration.between(episode.first, episode.last).toMillis() + " ms (last seen: " + episode.detail + ")");
      return true;
    });
  }

  synchronized boolean ongoing(String uid) {
    Episode episode = open.get(uid);
    return episode != null && Duration.between(episode.last, Instant.now()).compareTo(QUIET) <= 0;
  }

  synchronized int episodes() {
    return episodes;
  }
}
