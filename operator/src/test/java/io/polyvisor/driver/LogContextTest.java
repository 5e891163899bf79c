package io.polyvisor.driver;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.slf4j.MDC;

class LogContextTest {

  @Test
  void workHandedToAnotherThreadLogsAboutTheSameResourceAndLeavesThatThreadAsItWas() throws Exception {
    ExecutorService other = Executors.newSingleThreadExecutor();
    try {
      MDC.put("resource", "ns/vm");
      AtomicReference<String> seen = new AtomicReference<>();
      Runnable work = LogContext.carrying(() -> seen.set(MDC.get("resource")));
      MDC.remove("resource");
      other.submit(() -> MDC.put("resource", "the thread's own")).get();
      other.submit(work).get();
      assertThat(seen).hasValue("ns/vm");
      assertThat(other.submit(() -> MDC.get("resource")).get()).as("after the work, the thread's own again").isEqualTo("the thread's own");
    } finally {
      other.shutdownNow();
    }
  }
}
