package io.polyvisor.driver;

import java.time.Duration;
import java.util.Optional;

/**
 * How a finished migration went: the last progress seen and, where the hypervisor reports it, how
 * long the guest was paused for the switch-over.
 */
public record MigrationResult(MigrationProgress finalProgress, Optional<Duration> downtime) {}
