package io.polyvisor.api.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/** A virtual machine that the operator places on a node of its hypervisor class and keeps running. */
@Group(ApiGroup.GROUP)
@Version(ApiGroup.VERSION)
@ShortNames("pvm")
@Categories(ApiGroup.CATEGORY)
@AdditionalPrinterColumn(name = "Class", jsonPath = ".spec.hypervisorClassName", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Phase", jsonPath = ".status.phase", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Node", jsonPath = ".status.nodeName", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Ready",
    jsonPath = ".status.conditions[?(@.type==\"Ready\")].status",
    type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
@AdditionalPrinterColumn(
    name = "Memory",
    jsonPath = ".status.memory.assigned",
    type = AdditionalPrinterColumn.Type.STRING,
    priority = 1)
@AdditionalPrinterColumn(
    name = "Migration",
    jsonPath = ".status.migration.phase",
    type = AdditionalPrinterColumn.Type.STRING,
    priority = 1)
public class VirtualMachine extends CustomResource<VirtualMachineSpec, VirtualMachineStatus>
    implements Namespaced {

  @Override
  protected VirtualMachineSpec initSpec() {
    return new VirtualMachineSpec();
  }

  @Override
  protected VirtualMachineStatus initStatus() {
    return new VirtualMachineStatus();
  }
}
