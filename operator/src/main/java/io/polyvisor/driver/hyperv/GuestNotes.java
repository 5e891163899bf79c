package io.polyvisor.driver.hyperv;

import io.polyvisor.driver.GuestId;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * What the operator writes into a Hyper-V VM's Notes to recognise it: Hyper-V has no metadata
 * element like libvirt's and lets two VMs share a name, so the uid lives in the notes, and only a
 * VM whose notes carry it is ever touched.
 */
record GuestNotes(GuestId id, String revision) {

  private static final String HEADER = "Managed by Polyvisor; do not edit these lines.";
  private static final String UID = "polyvisor.io/uid=";
  private static final String VM = "polyvisor.io/vm=";
  private static final String REVISION = "polyvisor.io/revision=";

  String text() {
    return String.join("\n", HEADER, UID + id.uid(), VM + id.namespace() + "/" + id.name(), REVISION + revision);
  }

  /** The notes' guest, or empty for a VM the operator did not create. */
  static Optional<GuestNotes> read(String notes) {
    if (notes == null) {
      return Optional.empty();
    }
    Map<String, String> values = new HashMap<>();
    for (String line : notes.split("\\R")) {
      for (String key : new String[] {UID, VM, REVISION}) {
        if (line.startsWith(key)) {
          values.put(key, line.substring(key.length()).strip());
        }
      }
    }
    String uid = values.get(UID);
    String vm = values.get(VM);
    if (uid == null || vm == null || !vm.contains("/")) {
      return Optional.empty();
    }
    int slash = vm.indexOf('/');
    return Optional.of(new GuestNotes(
        new GuestId(vm.substring(0, slash), vm.substring(slash + 1), uid), values.getOrDefault(REVISION, "")));
  }
}
