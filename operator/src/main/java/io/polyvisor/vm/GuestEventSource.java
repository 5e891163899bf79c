package io.polyvisor.vm;

import io.javaoperatorsdk.operator.processing.event.Event;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.AbstractEventSource;
import io.javaoperatorsdk.operator.processing.event.source.IndexerResourceCache;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.driver.Drivers;
import io.polyvisor.driver.GuestEvent;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Wakes a VM's reconciler when its hypervisor announces a lifecycle change of its guest (started,
 * stopped, crashed, undefined behind the operator's back...), so drift is put right at once rather
 * than at the next resync.
 */
final class GuestEventSource extends AbstractEventSource<GuestEvent, VirtualMachine> {

  private static final Logger log = LoggerFactory.getLogger(GuestEventSource.class);
  private final IndexerResourceCache<VirtualMachine> vms;

  GuestEventSource(Drivers drivers, IndexerResourceCache<VirtualMachine> vms) {
    super(GuestEvent.class, "guest-events");
    this.vms = vms;
    drivers.all().forEach(driver -> driver.addEventListener(this::onGuestEvent));
  }

  /** Events carry no state to read back: the reconciler asks the hypervisor itself. */
  @Override
  public Set<GuestEvent> getSecondaryResources(VirtualMachine primary) {
    return Set.of();
  }

  private void onGuestEvent(GuestEvent event) {
    if (!isRunning()) {
      return;
    }
    vms.list()
        .filter(vm -> event.uid().equals(vm.getMetadata().getUid()))
        .findFirst()
        .ifPresent(vm -> {
          log.debug("guest {} on {}: {}", event.uid(), event.host().nodeName(), event.detail());
          getEventHandler().handleEvent(new Event(ResourceID.fromResource(vm)));
        });
  }
}
