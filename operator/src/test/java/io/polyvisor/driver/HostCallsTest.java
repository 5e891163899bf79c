package io.polyvisor.driver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The per-host deadline, with fake calls that block until the test lets them go. */
class HostCallsTest {

  private static final Duration TIMEOUT = Duration.ofMillis(500);
  /** Generous: the machine that runs the tests is shared. */
  private static final Duration AT_ONCE = Duration.ofSeconds(1);

  private final Host hung = new Host("kvm-1", "qemu+tcp://10.0.0.1/system");
  private final Host healthy = new Host("kvm-2", "qemu+tcp://10.0.0.2/system");
  private final HostCalls calls = new HostCalls("libvirtd", TIMEOUT, 2);
  private final CountDownLatch release = new CountDownLatch(1);

  @AfterEach
  void close() {
    release.countDown();
    calls.close();
  }

  @Test
  void aCallUnansweredPastTheTimeoutFailsAsHostHungNamingTheHostTheCallAndTheWait() {
    Instant started = Instant.now();

    assertThatThrownBy(() -> calls.call(hung, "look up guest 42", blocked("found")))
        .isInstanceOfSatisfying(HostUnreachableException.class, e -> assertThat(e.code()).isEqualTo("HOST_HUNG"))
        .hasMessage("libvirtd on kvm-1 (qemu+tcp://10.0.0.1/system) has not answered 'look up guest 42' for 0.5 s");

    assertThat(Duration.between(started, Instant.now())).isBetween(TIMEOUT, TIMEOUT.plus(AT_ONCE));
  }

  @Test
  void whileACallIsStuckNewCallsToItsHostFailAtOnceWithoutBeingSentAndOtherHostsAnswer() {
    assertThatThrownBy(() -> calls.call(hung, "look up guest 42", blocked("found"))).isInstanceOf(HostUnreachableException.class);
    AtomicBoolean sent = new AtomicBoolean();
    Instant started = Instant.now();

    assertThatThrownBy(() -> calls.call(hung, "list guests", () -> sent.getAndSet(true)))
        .isInstanceOfSatisfying(HostUnreachableException.class, e -> assertThat(e.code()).isEqualTo("HOST_HUNG"))
        .hasMessageStartingWith("libvirtd on kvm-1 (qemu+tcp://10.0.0.1/system) has not answered 'look up guest 42' for ")
        .hasMessageEndingWith("; 'list guests' is not sent until it does");
    assertThatThrownBy(() -> calls.requireAnswering(hung, "copy disks")).isInstanceOf(HostUnreachableException.class);

    assertThat(Duration.between(started, Instant.now())).isLessThan(AT_ONCE);
    assertThat(sent).isFalse();
    assertThat(calls.call(healthy, "list guests", () -> "kvm-2's guests")).isEqualTo("kvm-2's guests");
    assertThat(Duration.between(started, Instant.now())).isLessThan(AT_ONCE);
  }

  @Test
  void whenTheStuckCallReturnsItsHostIsCalledAgain() {
    assertThatThrownBy(() -> calls.call(hung, "look up guest 42", blocked("found"))).isInstanceOf(HostUnreachableException.class);
    assertThatThrownBy(() -> calls.call(hung, "list guests", () -> "guests")).isInstanceOf(HostUnreachableException.class);

    release.countDown();

    await().atMost(AT_ONCE).untilAsserted(() -> assertThat(calls.call(hung, "list guests", () -> "guests")).isEqualTo("guests"));
  }

  @Test
  void aCallQueuedBehindBusyThreadsIsDroppedWhenItsCallerGivesUp() throws Exception {
    // Both of the host's threads are busy with calls still within their deadline when the third comes.
    CountDownLatch running = new CountDownLatch(2);
    Supplier<String> busy = () -> {
      running.countDown();
      return blocked("busy").get();
    };
    CompletableFuture<String> first = CompletableFuture.supplyAsync(() -> calls.call(hung, "first", busy));
    CompletableFuture<String> second = CompletableFuture.supplyAsync(() -> calls.call(hung, "second", busy));
    assertThat(running.await(AT_ONCE.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
    AtomicBoolean ran = new AtomicBoolean();

    assertThatThrownBy(() -> calls.call(hung, "third", () -> ran.getAndSet(true)))
        .isInstanceOf(HostUnreachableException.class);

    release.countDown();
    await().atMost(AT_ONCE).untilAsserted(() -> assertThat(calls.call(hung, "fourth", () -> "answered")).isEqualTo("answered"));
    assertThat(ran).as("the third call, given up while queued").isFalse();
    assertThat(first).failsWithin(AT_ONCE);
    assertThat(second).failsWithin(AT_ONCE);
  }

  @Test
  void whatACallThrowsReachesItsCallerUnchanged() {
    HypervisorException refused = new HypervisorException("VIR_ERR_NO_DOMAIN", "no such guest");

    assertThatThrownBy(() -> calls.call(healthy, "start guest 42", () -> {
      throw refused;
    })).isSameAs(refused);
  }

  @Test
  void theTimeoutMustBePositive() {
    assertThatThrownBy(() -> new HostCalls("libvirtd", Duration.ZERO)).isInstanceOf(IllegalArgumentException.class);
  }

  /** A call that returns {@code value} once the test releases it. */
  private Supplier<String> blocked(String value) {
    return () -> {
      try {
        release.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return value;
    };
  }
}
