package io.polyvisor.api.v1alpha1;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;

@JsonInclude(JsonInclude.Include.NON_NULL)
public class Connection {

  @Required
  @Pattern("^[a-z][a-z0-9+.-]*://\\S+$")
  @JsonPropertyDescription(
      "Endpoint template of a node's management API. {node.name} and {node.address} are replaced"
          + " by the Node's name and its InternalIP, e.g. qemu+tls://{node.address}/system for"
          + " libvirt or https://{node.address}:5986/wsman for Hyper-V. A Node's annotation"
          + " polyvisor.io/endpoint overrides it for that node.")
  public String endpoint;

  @JsonPropertyDescription(
      "The Secret with the credentials for the endpoint (libvirt TLS client certificate, or"
          + " WinRM user and password or client certificate). Optional.")
  public SecretReference credentialsSecretRef;
}
