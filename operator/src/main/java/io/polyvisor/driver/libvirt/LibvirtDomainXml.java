package io.polyvisor.driver.libvirt;

import io.polyvisor.api.v1alpha1.NumaPlacement;
import io.polyvisor.driver.GuestId;
import io.polyvisor.driver.GuestSpec;
import io.polyvisor.driver.GuestSpec.GuestDisk;
import io.polyvisor.driver.GuestSpec.GuestNic;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

/**
 * Libvirt domain XML for a guest, built with the DOM so that no user value can become markup, and
 * the operator's ownership record in the domain's {@code <metadata>}: the VirtualMachine's
 * namespace, name and uid, which is also the domain UUID.
 */
public final class LibvirtDomainXml {

  /** The XML namespace of the operator's metadata element inside a domain. */
  public static final String METADATA_NAMESPACE = "https://polyvisor.io/xmlns/libvirt/guest/v1alpha1";

  static final String METADATA_PREFIX = "polyvisor";
  private static final String OWNER = "owner";

  private LibvirtDomainXml() {}

  /**
   * Renders the domain.
   *
   * @param isNetwork tells a libvirt network name from a host bridge for each NIC
   * @param numaNodeset host NUMA nodes to keep memory on, used when the spec asks for NUMA
   *     placement
   */
  public static String render(GuestSpec spec, Predicate<String> isNetwork, Optional<String> numaNodeset) {
    return render(spec, isNetwork, numaNodeset, new Hardware("qemu", "pc"));
  }

  /**
   * The virtual hardware a domain is defined with: its type ({@code kvm}, or {@code qemu} for
   * software emulation), from what the host offers now, and its machine type. A guest defined
   * once keeps its machine when it is defined again, so that a change of its configuration never
   * changes the virtual hardware its operating system sees; its type follows the host, so that a
   * guest defined before KVM was available is accelerated from its next boot.
   */
  record Hardware(String domainType, String machine) {

    static Hardware of(Optional<String> existingXml, HostCapabilities host) {
      String machine = existingXml.map(LibvirtDomainXml::machine).filter(m -> !m.isEmpty()).orElse(host.machine());
      return new Hardware(host.domainType(), machine);
    }
  }

  private static String machine(String domainXml) {
    var types = Xml.parse(domainXml).getDocumentElement().getElementsByTagName("type");
    return types.getLength() == 0 ? "" : ((Element) types.item(0)).getAttribute("machine");
  }

  /** Renders the domain on the given virtual hardware. */
  static String render(GuestSpec spec, Predicate<String> isNetwork, Optional<String> numaNodeset, Hardware hardware) {
    Document doc = Xml.newDocument();
    Element domain = doc.createElement("domain");
    doc.appendChild(domain);
    domain.setAttribute("type", hardware.domainType());
    Xml.text(domain, "name", spec.id().guestName());
    Xml.text(domain, "uuid", spec.id().uid());
    owner(Xml.child(domain, "metadata"), spec);

    Xml.text(domain, "memory", kib(spec.memory().maximumBytes())).setAttribute("unit", "KiB");
    Xml.text(domain, "currentMemory", kib(spec.memory().currentBytes())).setAttribute("unit", "KiB");
    Xml.text(domain, "vcpu", String.valueOf(spec.cores()));
    if (spec.numa() != NumaPlacement.None && numaNodeset.isPresent()) {
      Element memory = Xml.child(Xml.child(domain, "numatune"), "memory");
      memory.setAttribute("mode", spec.numa() == NumaPlacement.Strict ? "strict" : "preferred");
      memory.setAttribute("nodeset", numaNodeset.get());
    }

    Element os = Xml.child(domain, "os");
    Element type = Xml.text(os, "type", "hvm");
    type.setAttribute("arch", "x86_64");
    type.setAttribute("machine", hardware.machine());
    spec.kernelBoot().ifPresent(boot -> {
      Xml.text(os, "kernel", boot.kernel().toString());
      Xml.text(os, "initrd", boot.initrd().toString());
      Xml.text(os, "cmdline", boot.cmdline());
    });
    // Under emulation host-model is no host's CPU, only a slower one to emulate: QEMU's default
    // model serves. A model named by the class is given as named.
    // The class's features are for KVM, where they make a host's CPU usable or a fleet's alike.
    if (!("qemu".equals(hardware.domainType()) && GuestSpec.HOST_MODEL.equals(spec.cpuModel()))) {
      cpu(domain, spec.cpuModel(), "kvm".equals(hardware.domainType()) ? spec.cpuFeatures() : List.of());
    }
    Element features = Xml.child(domain, "features");
    Xml.child(features, "acpi"); // a guest shuts down gracefully on an ACPI power button press
    Xml.child(features, "apic");
    Xml.text(domain, "on_poweroff", "destroy");
    Xml.text(domain, "on_reboot", "restart");
    Xml.text(domain, "on_crash", "destroy");

    Element devices = Xml.child(domain, "devices");
    for (int i = 0; i < spec.disks().size(); i++) {
      disk(devices, spec.disks().get(i), i);
    }
    for (GuestNic nic : spec.nics()) {
      nic(devices, nic, isNetwork.test(nic.network()));
    }
    serial(devices, spec);
    balloon(devices, spec.memory());
    return Xml.serialize(doc);
  }

  /**
   * host-model and host-passthrough as libvirt names them; any other value is a named model that
   * must run as asked (no fallback to another model, no feature silently dropped).
   */
  private static void cpu(Element domain, String model, List<GuestSpec.CpuFeature> features) {
    Element cpu = Xml.child(domain, "cpu");
    if (GuestSpec.HOST_MODEL.equals(model) || GuestSpec.HOST_PASSTHROUGH.equals(model)) {
      cpu.setAttribute("mode", model);
    } else {
      cpu.setAttribute("mode", "custom");
      cpu.setAttribute("match", "exact");
      Xml.text(cpu, "model", model).setAttribute("fallback", "forbid");
    }
    for (GuestSpec.CpuFeature feature : features) {
      Element element = Xml.child(cpu, "feature");
      element.setAttribute("policy", feature.policy());
      element.setAttribute("name", feature.name());
    }
  }

  /** A guest's CPU as its live definition states it, with the type and machine it runs on. */
  record GuestCpu(Optional<String> xml, String model, String domainType, String machine) {}

  static GuestCpu guestCpu(String domainXml) {
    Element root = Xml.parse(domainXml).getDocumentElement();
    var types = root.getElementsByTagName("type");
    String machine = types.getLength() == 0 ? null : ((Element) types.item(0)).getAttribute("machine");
    var cpus = root.getElementsByTagName("cpu");
    if (cpus.getLength() == 0) {
      return new GuestCpu(Optional.empty(), "default", root.getAttribute("type"), machine);
    }
    Element cpu = (Element) cpus.item(0);
    var models = cpu.getElementsByTagName("model");
    String model = models.getLength() > 0 ? models.item(0).getTextContent().trim() : cpu.getAttribute("mode");
    return new GuestCpu(Optional.of(Xml.serialize(cpu)), model, root.getAttribute("type"), machine);
  }

  /**
   * The named model of a domain's CPU ({@code mode='custom'}, which is also what host-model
   * becomes in the live definition of a running guest); empty for QEMU's default CPU and for
   * host-passthrough, which name none.
   */
  static Optional<String> namedCpuModel(String domainXml) {
    var cpus = Xml.parse(domainXml).getDocumentElement().getElementsByTagName("cpu");
    if (cpus.getLength() == 0) {
      return Optional.empty();
    }
    Element cpu = (Element) cpus.item(0);
    var models = cpu.getElementsByTagName("model");
    boolean custom = cpu.getAttribute("mode").isEmpty() || "custom".equals(cpu.getAttribute("mode"));
    return custom && models.getLength() > 0 ? Optional.of(models.item(0).getTextContent().trim()).filter(m -> !m.isEmpty())
        : Optional.empty();
  }

  /** Whether a domain runs under software emulation (type {@code qemu}) rather than KVM. */
  static boolean emulated(String domainXml) {
    return "qemu".equals(Xml.parse(domainXml).getDocumentElement().getAttribute("type"));
  }

  /** Who owns a domain, read from its XML; empty when the domain is not one of ours. */
  public static Optional<GuestId> owner(String domainXml) {
    Element root = Xml.parse(domainXml).getDocumentElement();
    return Xml.first(root, METADATA_NAMESPACE, OWNER)
        .map(
            owner ->
                new GuestId(
                    owner.getAttribute("namespace"), owner.getAttribute("name"), owner.getAttribute("uid")));
  }

  /** The revision recorded in a domain's metadata; empty when it has none. */
  public static String revision(String domainXml) {
    Element root = Xml.parse(domainXml).getDocumentElement();
    return Xml.first(root, METADATA_NAMESPACE, OWNER).map(o -> o.getAttribute("revision")).orElse("");
  }

  /** Whether the domain's balloon gives memory back to a guest under pressure by itself. */
  static boolean balloonAutoDeflates(String domainXml) {
    var balloons = Xml.parse(domainXml).getDocumentElement().getElementsByTagName("memballoon");
    return balloons.getLength() > 0 && "on".equals(((Element) balloons.item(0)).getAttribute("autodeflate"));
  }

  private static void owner(Element metadata, GuestSpec spec) {
    Element owner = metadata.getOwnerDocument().createElementNS(METADATA_NAMESPACE, METADATA_PREFIX + ":" + OWNER);
    owner.setAttribute("namespace", spec.id().namespace());
    owner.setAttribute("name", spec.id().name());
    owner.setAttribute("uid", spec.id().uid());
    owner.setAttribute("minimumMemoryKiB", kib(spec.memory().minimumBytes()));
    owner.setAttribute("revision", spec.revision());
    for (GuestDisk disk : spec.disks()) {
      Element d = metadata.getOwnerDocument().createElementNS(METADATA_NAMESPACE, METADATA_PREFIX + ":disk");
      d.setAttribute("name", disk.name());
      d.setAttribute("path", disk.path());
      owner.appendChild(d);
    }
    metadata.appendChild(owner);
  }

  private static void disk(Element devices, GuestDisk disk, int index) {
    Element element = Xml.child(devices, "disk");
    element.setAttribute("type", "file");
    element.setAttribute("device", "disk");
    Element driver = Xml.child(element, "driver");
    driver.setAttribute("name", "qemu");
    driver.setAttribute("type", disk.format());
    Xml.child(element, "source").setAttribute("file", disk.path());
    Element target = Xml.child(element, "target");
    target.setAttribute("dev", "vd" + (char) ('a' + index));
    target.setAttribute("bus", "virtio");
    disk.bootOrder().ifPresent(order -> Xml.child(element, "boot").setAttribute("order", String.valueOf(order)));
  }

  private static void nic(Element devices, GuestNic nic, boolean network) {
    Element element = Xml.child(devices, "interface");
    element.setAttribute("type", network ? "network" : "bridge");
    Xml.child(element, "source").setAttribute(network ? "network" : "bridge", nic.network());
    Xml.child(element, "model").setAttribute("type", "virtio");
  }

  private static void serial(Element devices, GuestSpec spec) {
    Element serial = Xml.child(devices, "serial");
    if (spec.consoleLog().isPresent()) {
      serial.setAttribute("type", "file");
      Element source = Xml.child(serial, "source");
      source.setAttribute("path", spec.consoleLog().get().toString());
      // Without append the target QEMU truncates the file when a migration switches over.
      source.setAttribute("append", "on");
    } else {
      serial.setAttribute("type", "pty");
    }
    Xml.child(serial, "target").setAttribute("port", "0");
  }

  private static void balloon(Element devices, GuestSpec.GuestMemory memory) {
    Element balloon = Xml.child(devices, "memballoon");
    balloon.setAttribute("model", "virtio");
    if (memory.dynamic()) {
      // Give memory back to the host as the guest frees it, and let a guest under pressure
      // deflate the balloon itself before its OOM killer runs.
      balloon.setAttribute("autodeflate", "on");
      balloon.setAttribute("freePageReporting", "on");
    }
    // Statistics every 2 s: the balloon loop sizes Dynamic guests from them.
    Xml.child(balloon, "stats").setAttribute("period", "2");
  }

  private static String kib(long bytes) {
    return String.valueOf(Math.max(1, bytes / 1024));
  }
}
