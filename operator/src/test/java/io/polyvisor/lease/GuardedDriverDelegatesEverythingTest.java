package io.polyvisor.lease;

import static org.assertj.core.api.Assertions.assertThat;

import io.polyvisor.driver.HypervisorDriver;
import java.lang.reflect.Method;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * The guard wraps every driver the operator uses: a method it does not override falls to the
 * interface's default, which for a driver that does implement it silently does nothing (as a
 * Hyper-V memory change once did).
 */
class GuardedDriverDelegatesEverythingTest {

  @Test
  void everyDriverMethodIsOverriddenByTheGuard() {
    assertThat(Arrays.stream(HypervisorDriver.class.getMethods()).filter(m -> !m.isSynthetic()))
        .allSatisfy(m -> assertThat(declares(m)).as(m.getName() + " passed on by GuardedDriver").isTrue());
  }

  private static boolean declares(Method m) {
    try {
      return GuardedDriver.class.getDeclaredMethod(m.getName(), m.getParameterTypes()) != null;
    } catch (NoSuchMethodException e) {
      return false;
    }
  }
}
