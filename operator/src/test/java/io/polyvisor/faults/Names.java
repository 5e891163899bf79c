package io.polyvisor.faults;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** VM incarnations as the log names them: {@code name/uid8}, the uid's first 8 characters. */
final class Names {

  private final Map<String, String> nameByUid = new ConcurrentHashMap<>();
  private final Map<String, String> uidByName = new ConcurrentHashMap<>();

  void put(String uid, String name) {
    nameByUid.put(uid, name);
    uidByName.put(name, uid);
  }

  /** The VM's current (newest) incarnation, or null. */
  String uidOf(String name) {
    return uidByName.get(name);
  }

  String nameOf(String uid) {
    return nameByUid.get(uid);
  }

  String describe(String uid) {
    String name = nameByUid.get(uid);
    return (name == null ? "?" : name) + "/" + uid.substring(0, Math.min(8, uid.length()));
  }
}
