package io.polyvisor.driver.libvirt;

import com.sun.jna.Pointer;
import org.libvirt.Connect;
import org.libvirt.LibvirtException;

/**
 * A libvirt connection that also exposes its native handle, for the few calls libvirt-java 0.5.2
 * lacks and {@link LibvirtNative} makes through JNA.
 */
final class LibvirtConnection extends Connect {

  /**
   * Held while a storage pool is looked up and, when missing, created on this host: two moves or
   * provisionings that reach a fresh host at once would otherwise both define it, and the second
   * fail with "pool already exists".
   */
  final Object poolCreation = new Object();

  LibvirtConnection(String uri) throws LibvirtException {
    super(uri);
  }

  Pointer pointer() {
    return vcp.getPointer();
  }
}
