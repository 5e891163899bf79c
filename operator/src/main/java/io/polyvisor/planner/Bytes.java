package io.polyvisor.planner;

/** Byte counts in the binary units Kubernetes quantities use, for messages. */
public final class Bytes {

  private static final String[] UNITS = {"", "Ki", "Mi", "Gi", "Ti", "Pi"};

  private Bytes() {}

  /** 536870912 → "512Mi", 1610612736 → "1.5Gi". */
  public static String format(long bytes) {
    double value = bytes;
    int unit = 0;
    while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
      value /= 1024;
      unit++;
    }
    String number = value == Math.rint(value) ? String.valueOf((long) value) : String.format(java.util.Locale.ROOT, "%.1f", value);
    return number + UNITS[unit];
  }
}
