package io.polyvisor.vm;

import io.polyvisor.planner.MemoryRequest;
import io.fabric8.kubernetes.api.model.storage.StorageClass;
import io.polyvisor.api.v1alpha1.DiskSpec;
import io.polyvisor.api.v1alpha1.Driver;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.driver.StoragePoolSpec;
import io.polyvisor.driver.VolumeSpec;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/**
 * A VM's disks resolved against their StorageClasses: which pool each lives in and what its volume
 * is called. Resolution fails, with a message that names the disk and the fix, when a class is
 * missing or belongs to another hypervisor.
 */
public record DiskPlan(DiskSpec disk, StoragePoolSpec pool, String volumeName) {

  /** Thrown when a disk's storage cannot be used; the message is meant for the VM's condition. */
  public static final class InvalidStorage extends Exception {
    public InvalidStorage(String message) {
      super(message);
    }
  }

  public static String provisionerFor(Driver driver) {
    return driver == Driver.LIBVIRT ? "libvirt.polyvisor.io" : "hyperv.polyvisor.io";
  }

  public static List<DiskPlan> resolve(VirtualMachine vm, Driver driver, Function<String, StorageClass> storageClasses)
      throws InvalidStorage {
    List<DiskPlan> plans = new ArrayList<>();
    if (vm.getSpec().disks == null) {
      return plans;
    }
    String expected = provisionerFor(driver);
    for (DiskSpec disk : vm.getSpec().disks) {
      StorageClass storageClass = storageClasses.apply(disk.storageClassName);
      if (storageClass == null) {
        throw new InvalidStorage("disk " + disk.name + ": StorageClass " + disk.storageClassName
            + " does not exist; create it or change spec.disks[].storageClassName");
      }
      if (!expected.equals(storageClass.getProvisioner())) {
        throw new InvalidStorage("disk " + disk.name + ": StorageClass " + disk.storageClassName + " has provisioner "
            + storageClass.getProvisioner() + ", but the VM's hypervisor class uses driver " + driver.name().toLowerCase()
            + "; use a StorageClass with provisioner " + expected);
      }
      StoragePoolSpec pool;
      try {
        pool = StoragePoolSpec.fromParameters(disk.storageClassName, storageClass.getParameters());
      } catch (IllegalArgumentException e) {
        throw new InvalidStorage("disk " + disk.name + ": " + e.getMessage());
      }
      plans.add(new DiskPlan(disk, pool, volumeName(vm, disk)));
    }
    return plans;
  }

  /**
   * The volume's name: readable (namespace, VM, disk) and tied to this VM's uid, so that a VM
   * recreated under the same name never picks up the old one's data.
   */
  static String volumeName(VirtualMachine vm, DiskSpec disk) {
    return vm.getMetadata().getNamespace() + "_" + vm.getMetadata().getName() + "_" + disk.name + "-"
        + vm.getMetadata().getUid().substring(0, 8);
  }

  public VolumeSpec volumeSpec() {
    return new VolumeSpec(
        pool, volumeName, MemoryRequest.bytes(disk.size), Optional.ofNullable(disk.source).map(s -> URI.create(s.url)));
  }
}
