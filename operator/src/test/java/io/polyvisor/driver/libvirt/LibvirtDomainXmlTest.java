package io.polyvisor.driver.libvirt;

import static org.assertj.core.api.Assertions.assertThat;

import io.polyvisor.api.v1alpha1.NumaPlacement;
import io.polyvisor.driver.GuestId;
import io.polyvisor.driver.GuestSpec;
import io.polyvisor.driver.GuestSpec.GuestDisk;
import io.polyvisor.driver.GuestSpec.GuestMemory;
import io.polyvisor.driver.GuestSpec.GuestNic;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

class LibvirtDomainXmlTest {

  /** Everything that could break out of an attribute, a text node or a CDATA section. */
  private static final String HOSTILE = "a<b>&c'd\"e]]>f\n</name><devices><emulator>/bin/sh</emulator>";

  private static final GuestId ID = new GuestId("ns", "vm", "6f1c1b0e-8c57-4a25-a8e4-0d1c1f7d8a11");

  @Test
  void hostileNamesEndUpAsInertData() {
    GuestId hostileId = new GuestId(HOSTILE, HOSTILE, ID.uid());
    GuestSpec spec =
        new GuestSpec(
            hostileId,
            1,
            GuestMemory.fixed(64 << 20),
            NumaPlacement.None,
            List.of(new GuestDisk(HOSTILE, "/var/lib/x/" + HOSTILE, "qcow2", Optional.of(1))),
            List.of(new GuestNic(HOSTILE, HOSTILE)),
            Optional.of(Path.of("/tmp/" + HOSTILE)));

    String xml = LibvirtDomainXml.render(spec, n -> true, Optional.empty());
    Element domain = Xml.parse(xml).getDocumentElement();

    assertThat(LibvirtDomainXml.owner(xml)).contains(hostileId);
    assertThat(text(domain, "name")).isEqualTo(HOSTILE + "_" + HOSTILE);
    assertThat(attribute(domain, "source", 0, "file")).isEqualTo("/var/lib/x/" + HOSTILE);
    assertThat(attribute(domain, "source", 1, "network")).isEqualTo(HOSTILE);
    assertThat(attribute(domain, "source", 2, "path")).isEqualTo("/tmp/" + HOSTILE);
    // The injected <emulator> must not exist as an element: only the values above carry it.
    assertThat(domain.getElementsByTagName("emulator").getLength()).isZero();
    assertThat(domain.getElementsByTagName("devices").getLength()).isEqualTo(1);
    assertThat(domain.getElementsByTagName("name").getLength()).isEqualTo(1);
  }

  @Test
  void theCpuIsTheClassModelAndTheHardwareTheHostOffersOrTheDomainAlreadyHas() {
    GuestSpec base = spec(GuestMemory.fixed(64L << 20), NumaPlacement.None);
    HostCapabilities kvmHost = new HostCapabilities(true, "pc-i440fx-7.2", io.polyvisor.driver.HostCpuModels.UNKNOWN);

    String hostModel = LibvirtDomainXml.render(base, n -> true, Optional.empty(), LibvirtDomainXml.Hardware.of(Optional.empty(), kvmHost));
    Element d = Xml.parse(hostModel).getDocumentElement();
    assertThat(d.getAttribute("type")).isEqualTo("kvm");
    assertThat(attribute(d, "type", 0, "machine")).isEqualTo("pc-i440fx-7.2");
    assertThat(attribute(d, "cpu", 0, "mode")).isEqualTo("host-model");
    assertThat(LibvirtDomainXml.emulated(hostModel)).isFalse();
    assertThat(LibvirtDomainXml.namedCpuModel(hostModel)).as("host-model names no model until the guest runs").isEmpty();
    // What libvirt makes of host-model in the live definition of a running guest.
    assertThat(LibvirtDomainXml.namedCpuModel("<domain type='kvm'><cpu mode='custom' match='exact' check='full'>"
        + "<model fallback='forbid'>EPYC-Rome</model><feature policy='disable' name='arch-capabilities'/></cpu></domain>"))
        .contains("EPYC-Rome");
    assertThat(LibvirtDomainXml.namedCpuModel("<domain type='kvm'><cpu mode='host-passthrough'/></domain>")).isEmpty();
    assertThat(LibvirtDomainXml.namedCpuModel("<domain type='qemu'/>")).isEmpty();

    GuestSpec named = withCpu(base, "Skylake-Client-IBRS");
    Element n = Xml.parse(LibvirtDomainXml.render(named, x -> true, Optional.empty(),
        LibvirtDomainXml.Hardware.of(Optional.empty(), kvmHost))).getDocumentElement();
    assertThat(attribute(n, "cpu", 0, "mode")).isEqualTo("custom");
    assertThat(attribute(n, "cpu", 0, "match")).isEqualTo("exact");
    assertThat(text(n, "model")).isEqualTo("Skylake-Client-IBRS");
    assertThat(attribute(n, "model", 0, "fallback")).isEqualTo("forbid");

    // Defined before, emulated, on an older machine: it keeps its machine (the hardware its
    // operating system knows) and gets KVM now that the host offers it.
    String earlier = LibvirtDomainXml.render(base, x -> true, Optional.empty(), new LibvirtDomainXml.Hardware("qemu", "pc-i440fx-6.2"));
    Element again = Xml.parse(LibvirtDomainXml.render(withCpu(base, "host-passthrough"), x -> true, Optional.empty(),
        LibvirtDomainXml.Hardware.of(Optional.of(earlier), kvmHost))).getDocumentElement();
    assertThat(again.getAttribute("type")).isEqualTo("kvm");
    assertThat(attribute(again, "type", 0, "machine")).isEqualTo("pc-i440fx-6.2");
    assertThat(attribute(again, "cpu", 0, "mode")).isEqualTo("host-passthrough");
    assertThat(LibvirtDomainXml.emulated(earlier)).isTrue();
    assertThat(Xml.parse(earlier).getDocumentElement().getElementsByTagName("cpu").getLength())
        .as("emulated with the default model: QEMU's own CPU").isZero();
  }

  @Test
  void theClassesCpuFeaturesGoWithTheModelUnderKvmOnly() {
    GuestSpec base = spec(GuestMemory.fixed(64L << 20), NumaPlacement.None);
    List<GuestSpec.CpuFeature> features = List.of(new GuestSpec.CpuFeature("arch-capabilities", "disable"),
        new GuestSpec.CpuFeature("pcid", "require"));
    GuestSpec featured = new GuestSpec(base.id(), base.revision(), base.cores(), base.memory(), base.numa(), base.disks(),
        base.nics(), base.consoleLog(), base.kernelBoot(), GuestSpec.HOST_MODEL, features);

    Element kvm = Xml.parse(LibvirtDomainXml.render(featured, x -> true, Optional.empty(),
        LibvirtDomainXml.Hardware.of(Optional.empty(), new HostCapabilities(true, "pc-i440fx-7.2", io.polyvisor.driver.HostCpuModels.UNKNOWN)))).getDocumentElement();
    assertThat(attribute(kvm, "cpu", 0, "mode")).isEqualTo("host-model");
    assertThat(attribute(kvm, "feature", 0, "name") + " " + attribute(kvm, "feature", 0, "policy")).isEqualTo("arch-capabilities disable");
    assertThat(attribute(kvm, "feature", 1, "name") + " " + attribute(kvm, "feature", 1, "policy")).isEqualTo("pcid require");

    Element emulated = Xml.parse(LibvirtDomainXml.render(featured, x -> true, Optional.empty(),
        LibvirtDomainXml.Hardware.of(Optional.empty(), new HostCapabilities(false, "pc-i440fx-7.2", io.polyvisor.driver.HostCpuModels.UNKNOWN)))).getDocumentElement();
    assertThat(emulated.getElementsByTagName("cpu").getLength()).as("QEMU's own CPU under emulation").isZero();
    GuestSpec namedAndFeatured = new GuestSpec(base.id(), base.revision(), base.cores(), base.memory(), base.numa(), base.disks(),
        base.nics(), base.consoleLog(), base.kernelBoot(), "Westmere", features);
    Element emulatedModel = Xml.parse(LibvirtDomainXml.render(namedAndFeatured, x -> true, Optional.empty(),
        LibvirtDomainXml.Hardware.of(Optional.empty(), new HostCapabilities(false, "pc-i440fx-7.2", io.polyvisor.driver.HostCpuModels.UNKNOWN)))).getDocumentElement();
    assertThat(text(emulatedModel, "model")).as("a named model is emulated as named").isEqualTo("Westmere");
    assertThat(emulatedModel.getElementsByTagName("feature").getLength()).as("but without the KVM features").isZero();
  }

  private static GuestSpec withCpu(GuestSpec spec, String model) {
    return new GuestSpec(spec.id(), spec.revision(), spec.cores(), spec.memory(), spec.numa(), spec.disks(), spec.nics(),
        spec.consoleLog(), spec.kernelBoot(), model);
  }

  @Test
  void staticMemoryIsFixedAndDynamicMemoryGetsAnAutoDeflatingBalloon() {
    String fixed = LibvirtDomainXml.render(spec(GuestMemory.fixed(512L << 20), NumaPlacement.None), n -> true, Optional.empty());
    Element f = Xml.parse(fixed).getDocumentElement();
    assertThat(text(f, "memory")).isEqualTo("524288");
    assertThat(text(f, "currentMemory")).isEqualTo("524288");
    assertThat(attribute(f, "memballoon", 0, "autodeflate")).isEmpty();

    GuestMemory dynamic = new GuestMemory(1L << 30, 2L << 30, 256L << 20, true);
    Element d = Xml.parse(LibvirtDomainXml.render(spec(dynamic, NumaPlacement.None), n -> true, Optional.empty()))
        .getDocumentElement();
    assertThat(text(d, "memory")).isEqualTo(String.valueOf(2L << 20));
    assertThat(text(d, "currentMemory")).isEqualTo(String.valueOf(1L << 20));
    assertThat(attribute(d, "memballoon", 0, "model")).isEqualTo("virtio");
    assertThat(attribute(d, "memballoon", 0, "autodeflate")).isEqualTo("on");
    assertThat(attribute(d, "memballoon", 0, "freePageReporting")).isEqualTo("on");
    assertThat(attribute(d, "stats", 0, "period")).isEqualTo("2");
  }

  @Test
  void numaPlacementMapsToNumatune() {
    Element strict = Xml.parse(LibvirtDomainXml.render(spec(GuestMemory.fixed(64 << 20), NumaPlacement.Strict), n -> true, Optional.of("1")))
        .getDocumentElement();
    assertThat(attribute(strict, "numatune", 0, "mode")).isEmpty();
    Element memory = (Element) ((Element) strict.getElementsByTagName("numatune").item(0)).getElementsByTagName("memory").item(0);
    assertThat(memory.getAttribute("mode")).isEqualTo("strict");
    assertThat(memory.getAttribute("nodeset")).isEqualTo("1");

    Element preferred = Xml.parse(LibvirtDomainXml.render(spec(GuestMemory.fixed(64 << 20), NumaPlacement.Preferred), n -> true, Optional.of("0")))
        .getDocumentElement();
    Element preferredMemory = (Element) ((Element) preferred.getElementsByTagName("numatune").item(0)).getElementsByTagName("memory").item(0);
    assertThat(preferredMemory.getAttribute("mode")).isEqualTo("preferred");

    Element none = Xml.parse(LibvirtDomainXml.render(spec(GuestMemory.fixed(64 << 20), NumaPlacement.None), n -> true, Optional.of("0")))
        .getDocumentElement();
    assertThat(none.getElementsByTagName("numatune").getLength()).isZero();
  }

  @Test
  void nicsPlugIntoNetworksOrBridgesAndDisksBootInOrder() {
    GuestSpec spec =
        new GuestSpec(ID, 2, GuestMemory.fixed(64 << 20), NumaPlacement.None,
            List.of(new GuestDisk("data", "/d", "raw", Optional.empty()), new GuestDisk("root", "/r", "qcow2", Optional.of(1))),
            List.of(new GuestNic("eth0", "default"), new GuestNic("eth1", "br0")),
            Optional.empty());
    Element domain = Xml.parse(LibvirtDomainXml.render(spec, "default"::equals, Optional.empty())).getDocumentElement();

    NodeList interfaces = domain.getElementsByTagName("interface");
    assertThat(((Element) interfaces.item(0)).getAttribute("type")).isEqualTo("network");
    assertThat(((Element) interfaces.item(1)).getAttribute("type")).isEqualTo("bridge");
    NodeList targets = domain.getElementsByTagName("target");
    assertThat(((Element) targets.item(0)).getAttribute("dev")).isEqualTo("vda");
    assertThat(((Element) targets.item(1)).getAttribute("dev")).isEqualTo("vdb");
    NodeList boots = domain.getElementsByTagName("boot");
    assertThat(boots.getLength()).isEqualTo(1);
    assertThat(((Element) boots.item(0).getParentNode()).getElementsByTagName("source").item(0).getAttributes()
        .getNamedItem("file").getNodeValue()).isEqualTo("/r");
    assertThat(text(domain, "vcpu")).isEqualTo("2");
    assertThat(attribute(domain, "serial", 0, "type")).isEqualTo("pty");
  }

  @Test
  void aDomainWithoutOurMetadataHasNoOwner() {
    assertThat(LibvirtDomainXml.owner("<domain type='qemu'><name>someone-elses</name></domain>")).isEmpty();
    assertThat(LibvirtDomainXml.owner(
        "<domain><metadata><other:owner xmlns:other='https://example.com/x' namespace='a' name='b' uid='c'/></metadata></domain>"))
        .isEmpty();
  }

  private static GuestSpec spec(GuestMemory memory, NumaPlacement numa) {
    return new GuestSpec(ID, 1, memory, numa, List.of(), List.of(), Optional.empty());
  }

  private static String text(Element root, String tag) {
    return root.getElementsByTagName(tag).item(0).getTextContent();
  }

  private static String attribute(Element root, String tag, int index, String name) {
    NodeList nodes = root.getElementsByTagName(tag);
    return nodes.getLength() <= index ? "" : ((Element) nodes.item(index)).getAttribute(name);
  }
}
