package io.polyvisor.driver;

import java.util.Optional;
import java.util.Set;

/**
 * The named CPU models a host's hypervisor can give guests.
 *
 * @param usable the models it can give a guest that asks for one by name
 * @param hostModel the model its host-model stands for, which may not be usable by name (host-model
 *     takes away the features the host lacks): a guest that runs with it can come here live
 */
public record HostCpuModels(Set<String> usable, Optional<String> hostModel) {

  public static final HostCpuModels UNKNOWN = new HostCpuModels(Set.of(), Optional.empty());
}
