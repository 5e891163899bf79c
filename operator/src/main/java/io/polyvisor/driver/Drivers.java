package io.polyvisor.driver;

import io.polyvisor.api.v1alpha1.Driver;
import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;

/** The hypervisor drivers this operator has, by the class's {@code spec.driver}. */
public final class Drivers implements AutoCloseable {

  private final Map<Driver, HypervisorDriver> drivers;

  public Drivers(Map<Driver, HypervisorDriver> drivers) {
    this.drivers = new EnumMap<>(drivers);
  }

  public Optional<HypervisorDriver> get(Driver driver) {
    return Optional.ofNullable(drivers.get(driver));
  }

  public Iterable<HypervisorDriver> all() {
    return drivers.values();
  }

  @Override
  public void close() {
    drivers.values().forEach(HypervisorDriver::close);
  }
}
