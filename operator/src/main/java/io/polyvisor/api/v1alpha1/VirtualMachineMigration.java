package io.polyvisor.api.v1alpha1;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Categories;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/** One live migration of one VM to another node of its class. */
@Group(ApiGroup.GROUP)
@Version(ApiGroup.VERSION)
@ShortNames("pvmim")
@Categories(ApiGroup.CATEGORY)
@AdditionalPrinterColumn(name = "VM", jsonPath = ".spec.vmName", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Method", jsonPath = ".spec.method", type = AdditionalPrinterColumn.Type.STRING, priority = 1)
@AdditionalPrinterColumn(name = "Phase", jsonPath = ".status.phase", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Source", jsonPath = ".status.sourceNode", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Target", jsonPath = ".status.targetNode", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(
    name = "Progress",
    jsonPath = ".status.progressPercent",
    type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
public class VirtualMachineMigration
    extends CustomResource<VirtualMachineMigrationSpec, VirtualMachineMigrationStatus>
    implements Namespaced {

  @Override
  protected VirtualMachineMigrationSpec initSpec() {
    return new VirtualMachineMigrationSpec();
  }

  @Override
  protected VirtualMachineMigrationStatus initStatus() {
    return new VirtualMachineMigrationStatus();
  }
}
