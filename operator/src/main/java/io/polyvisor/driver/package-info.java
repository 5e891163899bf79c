/**
 * The hypervisor driver interface: everything the reconcilers may ask of a host, whatever its
 * hypervisor. Guests are identified by the VirtualMachine's uid, which the drivers use as the
 * hypervisor's own VM identity (libvirt domain UUID, Hyper-V VM id lookup) so that a guest is
 * found again after an operator restart and can never be defined twice on one host.
 */
package io.polyvisor.driver;
