package io.polyvisor.driver.libvirt;

import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.driver.MigrationMark;
import org.libvirt.Domain;

/**
 * Reads what a migration left on a libvirt domain, from libvirt 9's own signals:
 *
 * <ul>
 *   <li>a job under way: {@code virDomainGetJobStats} reports an unbounded job on the source;
 *       on the target, an incoming migration makes it fail with "migration statistics are
 *       available only on the source host" (OPERATION_UNSUPPORTED), which is itself the sign,
 *       and the only one that says which way the job goes;
 *   <li>a broken post-copy: state reason POSTCOPY_FAILED, paused on the source and running (its
 *       vCPUs waiting for pages) on the target; libvirt keeps the job until a post-copy resume;
 *   <li>a pause by a migration: paused with reason MIGRATION and no job (a source restarted after
 *       QEMU finished sending and before the confirm step; a target waiting for its finish step).
 * </ul>
 */
final class LibvirtMigrationMarks {

  /** virErrorNumber 84, newer than libvirt-java 0.5.2's list of codes. */
  private static final int VIR_ERR_OPERATION_UNSUPPORTED = 84;
  /** virErrorNumber 55: asked of a domain that is not running. */
  private static final int VIR_ERR_OPERATION_INVALID = 55;

  private LibvirtMigrationMarks() {}

  static MigrationMark read(LibvirtConnection connection, Host host, Domain domain, String uid) {
    LibvirtNative lib = LibvirtNative.INSTANCE;
    Pointer dom = lib.virDomainLookupByUUIDString(connection.pointer(), uid);
    if (dom == null) {
      return MigrationMark.NONE;
    }
    try {
      IntByReference state = new IntByReference();
      IntByReference reason = new IntByReference();
      if (lib.virDomainGetState(dom, state, reason, 0) != 0) {
        throw new HypervisorException(LibvirtErrors.lastCode().name(),
            "cannot read the state of guest " + uid + " on " + host + ": " + LibvirtErrors.lastMessage());
      }
      if (postCopyFailed(state.getValue(), reason.getValue())) {
        return MigrationMark.POST_COPY_SPLIT;
      }
      if (state.getValue() == LibvirtNative.VIR_DOMAIN_SHUTOFF) {
        return MigrationMark.NONE; // no process, no job (libvirt refuses to report one)
      }
      MigrationMark job = jobUnderWay(lib, dom, host, uid);
      if (job != MigrationMark.NONE) {
        return job;
      }
      if (postCopy(state.getValue(), reason.getValue())) {
        return MigrationMark.POST_COPY_SPLIT;
      }
      if (state.getValue() == LibvirtNative.VIR_DOMAIN_PAUSED && reason.getValue() == LibvirtNative.VIR_DOMAIN_PAUSED_MIGRATION) {
        return MigrationMark.PAUSED_BY_MIGRATION;
      }
      return MigrationMark.NONE;
    } finally {
      lib.virDomainFree(dom);
    }
  }

  private static boolean postCopyFailed(int state, int reason) {
    return (state == LibvirtNative.VIR_DOMAIN_PAUSED && reason == LibvirtNative.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED)
        || (state == LibvirtNative.VIR_DOMAIN_RUNNING && reason == LibvirtNative.VIR_DOMAIN_RUNNING_POSTCOPY_FAILED);
  }

  /** In post-copy with no job left to finish it: as split as a failed one. */
  private static boolean postCopy(int state, int reason) {
    return (state == LibvirtNative.VIR_DOMAIN_PAUSED && reason == LibvirtNative.VIR_DOMAIN_PAUSED_POSTCOPY)
        || (state == LibvirtNative.VIR_DOMAIN_RUNNING && reason == LibvirtNative.VIR_DOMAIN_RUNNING_POSTCOPY);
  }

  /** JOB, INCOMING_JOB or NONE. */
  private static MigrationMark jobUnderWay(LibvirtNative lib, Pointer dom, Host host, String uid) {
    IntByReference type = new IntByReference();
    PointerByReference params = new PointerByReference();
    IntByReference count = new IntByReference();
    if (lib.virDomainGetJobStats(dom, type, params, count, 0) == 0) {
      if (params.getValue() != null) {
        lib.virTypedParamsFree(params.getValue(), count.getValue());
      }
      boolean running = type.getValue() != LibvirtNative.VIR_DOMAIN_JOB_NONE && type.getValue() < LibvirtNative.VIR_DOMAIN_JOB_COMPLETED;
      return running ? MigrationMark.JOB : MigrationMark.NONE;
    }
    int code = LibvirtNative.INSTANCE.virGetLastErrorCode();
    String message = LibvirtErrors.lastMessage();
    if (code == VIR_ERR_OPERATION_UNSUPPORTED && message != null && message.contains("only on the source host")) {
      return MigrationMark.INCOMING_JOB;
    }
    if (code == VIR_ERR_OPERATION_INVALID) {
      return MigrationMark.NONE; // the domain stopped between the two calls: no job
    }
    throw new HypervisorException(LibvirtErrors.lastCode().name(), "cannot read the jobs of guest " + uid + " on " + host + ": " + message);
  }
}
