package io.polyvisor.driver;

/**
 * How to run one live migration.
 *
 * @param sharedStorage the guest's disks are on storage every host sees (the StorageClass says so):
 *     only memory moves. Otherwise the disks are copied to the same pool on the target.
 * @param bandwidthMiBps cap on the transfer rate; 0 means unlimited
 * @param autoConverge let the hypervisor throttle the guest's vCPUs so a busy guest converges
 * @param postCopy allow switching to post-copy when pre-copy does not converge
 * @param tls encrypt the migration stream between the hosts (libvirt's TLS migration)
 */
public record MigrationOptions(
    boolean sharedStorage, long bandwidthMiBps, boolean autoConverge, boolean postCopy, boolean tls) {}
