package io.polyvisor.driver.libvirt;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;

/**
 * The libvirt C calls that libvirt-java 0.5.2 does not wrap, bound through JNA to the same
 * {@code libvirt.so} it loads. Each returns libvirt's own result codes; callers check them and
 * free what they look up.
 */
interface LibvirtNative extends Library {

  LibvirtNative INSTANCE = Native.load("virt", LibvirtNative.class);

  int VIR_DOMAIN_JOB_STATS_COMPLETED = 1;
  int VIR_TYPED_PARAM_INT = 1;
  int VIR_TYPED_PARAM_UINT = 2;
  int VIR_TYPED_PARAM_LLONG = 3;
  int VIR_TYPED_PARAM_ULLONG = 4;

  Pointer virStorageVolLookupByPath(Pointer conn, String path);

  int virStorageVolUpload(Pointer vol, Pointer stream, long offset, long length, int flags);

  int virStorageVolDownload(Pointer vol, Pointer stream, long offset, long length, int flags);

  int virStorageVolFree(Pointer vol);

  Pointer virStreamNew(Pointer conn, int flags);

  int virStreamSend(Pointer stream, byte[] data, long nbytes);

  int virStreamRecv(Pointer stream, byte[] data, long nbytes);

  int virStreamFinish(Pointer stream);

  int virStreamAbort(Pointer stream);

  int virStreamFree(Pointer stream);

  Pointer virDomainLookupByUUIDString(Pointer conn, String uuid);

  int virDomainFree(Pointer domain);

  int virDomainGetJobStats(
      Pointer domain, IntByReference type, PointerByReference params, IntByReference nparams, int flags);

  void virTypedParamsFree(Pointer params, int nparams);

  int virDomainMigrateStartPostCopy(Pointer domain, int flags);

  /**
   * Whether a host can run a guest CPU, as its hypervisor (not its bare CPU) sees it: 0
   * incompatible, 1 identical, 2 superset, -1 error. With {@link #COMPARE_CPU_FAIL_INCOMPATIBLE},
   * an incompatible CPU is an error whose message names the missing features.
   */
  int virConnectCompareHypervisorCPU(Pointer conn, String emulator, String arch, String machine, String virttype,
      String xmlCPU, int flags);

  int COMPARE_CPU_FAIL_INCOMPATIBLE = 1;

  /**
   * What the hypervisor offers guests of one architecture and type (an XML document the caller
   * frees with {@code Native.free}), or null when it offers none (no KVM, say). Unlike the host's whole capabilities, it
   * probes only the one QEMU binary, which defining a guest probes anyway.
   */
  Pointer virConnectGetDomainCapabilities(Pointer conn, String emulatorbin, String arch, String machine, String virttype,
      int flags);

  /** The message of this thread's last libvirt error. */
  String virGetLastErrorMessage();

  int virDomainGetState(Pointer domain, IntByReference state, IntByReference reason, int flags);

  int VIR_DOMAIN_SHUTOFF = 5;
  int VIR_DOMAIN_SHUTOFF_CRASHED = 3;

  // virDomainState and its reasons (libvirt-domain.h) that tell a migration's traces apart.
  int VIR_DOMAIN_RUNNING = 1;
  int VIR_DOMAIN_PAUSED = 3;
  int VIR_DOMAIN_RUNNING_POSTCOPY = 10;
  int VIR_DOMAIN_RUNNING_POSTCOPY_FAILED = 11;
  int VIR_DOMAIN_PAUSED_MIGRATION = 2;
  int VIR_DOMAIN_PAUSED_POSTCOPY = 12;
  int VIR_DOMAIN_PAUSED_POSTCOPY_FAILED = 13;

  // virDomainJobType: NONE, BOUNDED, UNBOUNDED are jobs under way; COMPLETED and later have ended.
  int VIR_DOMAIN_JOB_NONE = 0;
  int VIR_DOMAIN_JOB_COMPLETED = 3;

  int virDomainMigrateToURI3(Pointer domain, String dconnuri, Pointer params, int nparams, long flags);

  int virTypedParamsAddString(PointerByReference params, IntByReference nparams, IntByReference maxparams, String name, String value);

  int virTypedParamsAddULLong(PointerByReference params, IntByReference nparams, IntByReference maxparams, String name, long value);

  /** The code of this thread's last libvirt error (virErrorNumber). */
  int virGetLastErrorCode();
}
