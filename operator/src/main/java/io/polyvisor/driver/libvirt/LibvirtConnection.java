package io.polyvisor.driver.libvirt;

import com.sun.jna.Pointer;
import org.libvirt.Connect;
import org.libvirt.LibvirtException;

/**
 * A libvirt connection that also exposes its native handle, for the few calls libvirt-java 0.5.2
 * lacks and {@link LibvirtNative} makes through JNA.
 */
final class LibvirtConnection extends Connect {

  LibvirtConnection(String uri) throws LibvirtException {
    super(uri);
  }

  Pointer pointer() {
    return vcp.getPointer();
  }
}
