package io.polyvisor.driver;

import java.util.Map;
import java.util.concurrent.Callable;
import org.slf4j.MDC;

/**
 * The log context (the resource a line is about, in SLF4J's MDC) carried from the thread that
 * hands work over to the thread that runs it: calls on a host's threads, a migration's transfer
 * and its progress poller log about the same VM or migration as the reconciler that started them.
 */
public final class LogContext {

  private LogContext() {}

  /** {@code work}, run with the caller's log context of now. */
  public static Runnable carrying(Runnable work) {
    Map<String, String> context = MDC.getCopyOfContextMap();
    return () -> {
      Map<String, String> before = MDC.getCopyOfContextMap();
      set(context);
      try {
        work.run();
      } finally {
        set(before);
      }
    };
  }

  /** {@code work}, run with the caller's log context of now. */
  public static <T> Callable<T> carrying(Callable<T> work) {
    Map<String, String> context = MDC.getCopyOfContextMap();
    return () -> {
      Map<String, String> before = MDC.getCopyOfContextMap();
      set(context);
      try {
        return work.call();
      } finally {
        set(before);
      }
    };
  }

  private static void set(Map<String, String> context) {
    if (context == null) {
      MDC.clear();
    } else {
      MDC.setContextMap(context);
    }
  }
}
