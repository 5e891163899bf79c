package io.polyvisor.testing.hyperv;

import java.util.LinkedHashMap;
import java.util.Map;

/** An object in a simulated PowerShell pipeline: named properties, read case-insensitively. */
interface PsObject {

  /** The properties, in the order PowerShell would print them. */
  Map<String, Object> properties();

  default Object get(String name) {
    for (var e : properties().entrySet()) {
      if (e.getKey().equalsIgnoreCase(name)) {
        return e.getValue();
      }
    }
    return null;
  }

  /** A .NET enum value: its name in a string, its number in ConvertTo-Json (Windows PowerShell 5.1). */
  interface PsEnum {
    String name();

    int number();
  }

  /** A plain object, as Select-Object and ConvertFrom-Json make them. */
  record Record(Map<String, Object> properties) implements PsObject {
    static Record of(Object... keyValues) {
      Map<String, Object> map = new LinkedHashMap<>();
      for (int i = 0; i < keyValues.length; i += 2) {
        map.put((String) keyValues[i], keyValues[i + 1]);
      }
      return new Record(map);
    }
  }
}
