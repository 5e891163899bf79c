package io.polyvisor.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class MigrationPolicy {

  @Min(1)
  @Max(1000)
  @Default("5")
  @JsonPropertyDescription("Most live migrations of this class running at once in the cluster. Default 5.")
  public Integer parallelPerCluster;

  @Min(1)
  @Max(100)
  @Default("2")
  @JsonPropertyDescription("Most live migrations leaving one node at once. Default 2.")
  public Integer parallelOutboundPerNode;

  @Min(0)
  @Default("0")
  @JsonPropertyDescription("Bandwidth cap of one migration in MiB/s; 0 (default) means unlimited.")
  public Integer bandwidthMiBps;

  @Min(1)
  @Default("150")
  @JsonPropertyDescription(
      "A migration is aborted when it runs longer than this many seconds per GiB of guest"
          + " memory (and of disk it copies). The VM keeps running on its source. Default 150.")
  public Integer completionTimeoutPerGiBSeconds;

  @Min(1)
  @Default("150")
  @JsonPropertyDescription(
      "A migration is aborted when its remaining data has not shrunk for this many seconds."
          + " Default 150.")
  public Integer progressTimeoutSeconds;

  @Default("false")
  @JsonPropertyDescription(
      "Let the hypervisor slow the guest's vCPUs so that a busy guest's migration can converge."
          + " Default false.")
  public Boolean allowAutoConverge;

  @Default("false")
  @JsonPropertyDescription(
      "Let a migration that outruns its completion timeout switch to post-copy instead of being"
          + " aborted: the guest runs on the target while its remaining memory is fetched on demand."
          + " It then always finishes, but a network failure during post-copy leaves the guest"
          + " paused on both hosts until recovered by hand. KVM only. Default false.")
  public Boolean allowPostCopy;

  @JsonPropertyDescription(
      "Encrypt the migration stream (guest memory and copied disks) with TLS between the hosts'"
          + " QEMUs, using each host's certificates in /etc/pki/qemu. Default: true when the class's"
          + " endpoint is qemu+tls://, false otherwise. KVM only (Hyper-V encrypts with its own"
          + " settings).")
  public Boolean tls;
}
