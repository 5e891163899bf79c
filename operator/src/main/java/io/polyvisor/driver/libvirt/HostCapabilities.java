package io.polyvisor.driver.libvirt;

import io.polyvisor.driver.HostCpuModels;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * What a libvirt host offers x86_64 guests, from its capabilities XML: whether KVM is there (the
 * host has hardware virtualisation and {@code /dev/kvm}), and the versioned machine type that its
 * QEMU's {@code pc} stands for today, so that a guest keeps that same virtual hardware when it
 * moves to a host whose QEMU is newer; and the named CPU models it can give such guests (empty
 * when it does not say).
 */
record HostCapabilities(boolean kvm, String machine, HostCpuModels cpuModels) {

  static final String ARCH = "x86_64";
  private static final String DEFAULT_MACHINE = "pc";

  static HostCapabilities parse(String capabilitiesXml) {
    NodeList guests = Xml.parse(capabilitiesXml).getDocumentElement().getElementsByTagName("guest");
    boolean kvm = false;
    String machine = DEFAULT_MACHINE;
    for (int i = 0; i < guests.getLength(); i++) {
      Element guest = (Element) guests.item(i);
      NodeList arches = guest.getElementsByTagName("arch");
      if (arches.getLength() == 0 || !ARCH.equals(((Element) arches.item(0)).getAttribute("name"))) {
        continue;
      }
      NodeList domains = guest.getElementsByTagName("domain");
      for (int d = 0; d < domains.getLength(); d++) {
        kvm |= "kvm".equals(((Element) domains.item(d)).getAttribute("type"));
      }
      NodeList machines = guest.getElementsByTagName("machine");
      for (int m = 0; m < machines.getLength(); m++) {
        Element element = (Element) machines.item(m);
        if (DEFAULT_MACHINE.equals(element.getTextContent().trim()) && !element.getAttribute("canonical").isEmpty()) {
          machine = element.getAttribute("canonical");
        }
      }
    }
    return new HostCapabilities(kvm, machine, HostCpuModels.UNKNOWN);
  }

  /**
   * From the domain capabilities of type {@code kvm} ({@code virsh domcapabilities --virttype
   * kvm}), or, where KVM is not offered, of type {@code qemu}: the machine named there is the
   * versioned one that {@code pc} stands for. The CPU models are the custom ones it marks
   * {@code usable='yes'}, and the one its host-model stands for.
   */
  static HostCapabilities fromDomainCapabilities(boolean kvm, String domainCapabilitiesXml) {
    Element root = Xml.parse(domainCapabilitiesXml).getDocumentElement();
    NodeList machines = root.getElementsByTagName("machine");
    String machine = machines.getLength() == 0 ? DEFAULT_MACHINE : machines.item(0).getTextContent().trim();
    Set<String> usable = new TreeSet<>();
    Optional<String> hostModel = Optional.empty();
    NodeList modes = root.getElementsByTagName("mode");
    for (int i = 0; i < modes.getLength(); i++) {
      Element mode = (Element) modes.item(i);
      if (!"yes".equals(mode.getAttribute("supported"))) {
        continue;
      }
      boolean custom = "custom".equals(mode.getAttribute("name"));
      if (!custom && !"host-model".equals(mode.getAttribute("name"))) {
        continue;
      }
      NodeList named = mode.getElementsByTagName("model");
      for (int m = 0; m < named.getLength(); m++) {
        Element model = (Element) named.item(m);
        if (!custom) {
          hostModel = Optional.of(model.getTextContent().trim());
        } else if ("yes".equals(model.getAttribute("usable"))) {
          usable.add(model.getTextContent().trim());
        }
      }
    }
    return new HostCapabilities(kvm, machine.isEmpty() ? DEFAULT_MACHINE : machine, new HostCpuModels(Set.copyOf(usable), hostModel));
  }

  /** The domain type to define guests with: {@code kvm} where the host offers it, else emulation. */
  String domainType() {
    return kvm ? "kvm" : "qemu";
  }
}
