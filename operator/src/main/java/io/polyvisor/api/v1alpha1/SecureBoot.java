package io.polyvisor.api.v1alpha1;

/**
 * Secure Boot of a Hyper-V Generation 2 VM: off, or on with the template whose certificates the
 * VM's firmware trusts. Hyper-V's own default is MicrosoftWindows, which refuses every Linux
 * loader ("The image's hash and certificate are not allowed"); Microsoft's guidance for Linux
 * guests is the UEFI CA template, whose CA signs the shim that Linux distributions boot through.
 * KVM guests of this project boot through SeaBIOS, which has no Secure Boot: KVM ignores it.
 */
public enum SecureBoot {
  /** On, trusting the Microsoft UEFI CA: Linux distributions (through their signed shim). */
  MicrosoftUEFICertificateAuthority,
  /** On, trusting Microsoft's Windows signing: Windows guests only. */
  MicrosoftWindows,
  /** On, trusting the open-source shielded-VM template (hosts of Windows Server 2016 RS3 and later). */
  OpenSourceShieldedVM,
  /** Off: any loader boots. */
  Off
}
