package io.polyvisor.driver.libvirt;

import com.sun.jna.Pointer;
import java.util.HashMap;
import java.util.Map;

/**
 * Reads an array of libvirt's {@code virTypedParameter} (80-byte field name, int type, 8-byte
 * aligned value union: 96 bytes each on 64-bit Linux), keeping the integer-valued ones.
 */
final class TypedParameters {

  private static final int FIELD_LENGTH = 80;
  private static final int TYPE_OFFSET = 80;
  private static final int VALUE_OFFSET = 88;
  private static final int SIZE = 96;

  private TypedParameters() {}

  static Map<String, Long> longs(Pointer params, int count) {
    Map<String, Long> values = new HashMap<>();
    for (int i = 0; i < count; i++) {
      long base = (long) i * SIZE;
      byte[] field = params.getByteArray(base, FIELD_LENGTH);
      int end = 0;
      while (end < FIELD_LENGTH && field[end] != 0) {
        end++;
      }
      String name = new String(field, 0, end, java.nio.charset.StandardCharsets.US_ASCII);
      int type = params.getInt(base + TYPE_OFFSET);
      switch (type) {
        case LibvirtNative.VIR_TYPED_PARAM_INT, LibvirtNative.VIR_TYPED_PARAM_UINT ->
            values.put(name, Integer.toUnsignedLong(params.getInt(base + VALUE_OFFSET)));
        case LibvirtNative.VIR_TYPED_PARAM_LLONG, LibvirtNative.VIR_TYPED_PARAM_ULLONG ->
            values.put(name, params.getLong(base + VALUE_OFFSET));
        default -> {
          // doubles, booleans and strings are not needed here
        }
      }
    }
    return values;
  }
}
