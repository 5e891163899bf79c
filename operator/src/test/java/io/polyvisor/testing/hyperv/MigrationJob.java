package io.polyvisor.testing.hyperv;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;

/** An Msvm_MigrationJob: what a host's CIM provider shows of a live migration it runs. */
final class MigrationJob implements PsObject {

  // CIM_ConcreteJob.JobState values: a job is New, then Starting, then Running.
  static final int NEW = 2;
  static final int STARTING = 3;
  static final int RUNNING = 4;
  static final int COMPLETED = 7;
  static final int TERMINATED = 8;
  static final int EXCEPTION = 10;

  final String instanceId = "Microsoft:" + UUID.randomUUID().toString().toUpperCase();
  final SimulatedVm vm;
  final String vmId;
  final SimulatedHyperVHost destination;
  final String destinationName;
  final String storagePath;
  final long totalBytes;
  volatile int percentComplete;
  volatile int jobState = NEW;
  volatile String errorDescription = "";
  volatile boolean cancelRequested;
  private volatile boolean cancelRefused;
  private final CountDownLatch ended = new CountDownLatch(1);
  private volatile long endedAtMillis;

  MigrationJob(SimulatedVm vm, SimulatedHyperVHost destination, String destinationName, String storagePath, long totalBytes) {
    this.vm = vm;
    this.vmId = vm.id.toString();
    this.destination = destination;
    this.destinationName = destinationName;
    this.storagePath = storagePath;
    this.totalBytes = Math.max(1, totalBytes);
  }

  /** New, Starting or Running: not ended yet. */
  boolean underWay() {
    return jobState >= NEW && jobState <= RUNNING;
  }

  /** RequestStateChange(4): accepted until the job has ended. */
  synchronized boolean cancel() {
    if (!underWay() || cancelRefused) {
      return false;
    }
    cancelRequested = true;
    return true;
  }

  void refuseCancel() {
    cancelRefused = true;
  }

  synchronized void end(int state, String error) {
    errorDescription = error;
    jobState = state;
    endedAtMillis = System.currentTimeMillis();
    ended.countDown();
  }

  /** Ended, longer ago than the host keeps finished jobs (TimeBeforeRemoval). */
  boolean endedMoreThan(long retentionMillis) {
    return !underWay() && endedAtMillis > 0 && System.currentTimeMillis() - endedAtMillis > retentionMillis;
  }

  void await() throws InterruptedException {
    ended.await();
  }

  @Override
  public Map<String, Object> properties() {
    Map<String, Object> p = new LinkedHashMap<>();
    p.put("InstanceID", instanceId);
    p.put("VirtualSystemName", vmId);
    p.put("DestinationHost", destinationName);
    p.put("PercentComplete", percentComplete);
    p.put("JobState", jobState);
    p.put("ErrorDescription", errorDescription);
    p.put("Cancellable", underWay());
    return p;
  }
}
