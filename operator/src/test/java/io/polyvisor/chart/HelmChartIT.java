package io.polyvisor.chart;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.polyvisor.api.v1alpha1.HypervisorClass;
import io.polyvisor.api.v1alpha1.VirtualMachine;
import io.polyvisor.api.v1alpha1.VirtualMachinePhase;
import io.polyvisor.driver.GuestInfo;
import io.polyvisor.driver.GuestState;
import io.polyvisor.driver.libvirt.LibvirtDriver;
import io.polyvisor.evacuation.EvacuationReconciler;
import io.polyvisor.testing.CounterGuest;
import io.polyvisor.testing.Kubeconfigs;
import io.polyvisor.testing.KvmNodes;
import io.polyvisor.testing.LibvirtCerts;
import io.polyvisor.testing.NodeRegistration;
import io.polyvisor.testing.OperatorProcess;
import io.polyvisor.testing.RealApiServer;
import io.polyvisor.testing.TestManifests;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Helm chart against a real API server: it lints, every object it renders is accepted, the
 * operator's pod passes Pod Security {@code restricted}, its rules are least privilege, and the
 * operator run with the chart's ServiceAccount alone (a token from the TokenRequest API) carries
 * out a VM's whole life and an evacuation on real libvirtd nodes.
 */
class HelmChartIT {

  private static final Path REPO = Path.of(System.getProperty("polyvisor.repoRoot")).toAbsolutePath().normalize();
  private static final Path CHART = REPO.resolve("helm/polyvisor");
  private static final String RELEASE_NAMESPACE = "polyvisor-system";
  private static final String CLASS = "it-chart";
  private static final String STORAGE = "it-chart-local";
  private static final List<String> NODES = List.of("chart-1", "chart-2");

  @TempDir static Path scratch;
  private static KubernetesClient client;
  private static Path kubeconfig;

  @BeforeAll
  static void install() throws Exception {
    client = RealApiServer.client();
    kubeconfig = scratch.resolve("kubeconfig");
    Files.writeString(kubeconfig, RealApiServer.kubeconfigYaml());
    helm("install", "pv", CHART.toString(), "--namespace", RELEASE_NAMESPACE, "--create-namespace");
  }

  @AfterAll
  static void uninstall() throws Exception {
    helm("uninstall", "pv", "--namespace", RELEASE_NAMESPACE);
  }

  @Test
  void theChartLintsAndTheApiServerAcceptsEveryObjectItRenders() throws Exception {
    assertThat(helm("lint", "--strict", CHART.toString())).contains("0 chart(s) failed");
    // With every optional value set, except the ServiceMonitor (its CRD is not installed here).
    Path values = scratch.resolve("values.yaml");
    Files.writeString(values, """
        credentialsNamespace: default
        kerberos: {krb5ConfigMap: realm-krb5}
        labels: {team: platform}
        imagePullSecrets: [{name: registry}]
        extraEnv: [{name: JAVA_TOOL_OPTIONS, value: "-XX:+UseSerialGC"}]
        nodeSelector: {kubernetes.io/os: linux}
        tolerations: [{key: dedicated, operator: Equal, value: control, effect: NoSchedule}]
        affinity:
          nodeAffinity:
            preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 1
              preference: {matchExpressions: [{key: zone, operator: In, values: [a]}]}
        """);
    Path rendered = scratch.resolve("rendered.yaml");
    Files.writeString(rendered, helm("template", "dry", CHART.toString(), "--namespace", RELEASE_NAMESPACE,
        "--kube-version", System.getProperty("KUBE_API_TEST_API_SERVER_VERSION"), "--values", values.toString()));
    assertThat(Files.readString(rendered)).contains("team: platform", "name: registry", "JAVA_TOOL_OPTIONS", "kubernetes.io/os: linux",
        "key: dedicated", "key: zone", "POLYVISOR_KRB5_CONF", "name: realm-krb5", "mountPath: /etc/polyvisor/krb5");
    String applied = run(List.of(RealApiServer.binary("kubectl").toString(), "--kubeconfig", kubeconfig.toString(),
        "apply", "--server-side", "--dry-run=server", "-f", rendered.toString()));
    assertThat(applied).contains("deployment.apps/dry-operator serverside-applied (server dry run)")
        .contains("poddisruptionbudget.policy/dry-operator serverside-applied (server dry run)")
        .contains("role.rbac.authorization.k8s.io/dry-operator-credentials serverside-applied (server dry run)");

    assertThat(client.apps().deployments().inNamespace(RELEASE_NAMESPACE).withName("pv-operator").get()).isNotNull();
    assertThat(client.apiextensions().v1().customResourceDefinitions().withName("virtualmachines.polyvisor.io").get()).isNotNull();
    // A bad value is refused by the chart's schema, naming the value.
    assertThatThrownBy(() -> helm("template", "bad", CHART.toString(), "--set", "settings.logFormat=xml"))
        .hasMessageContaining("/settings/logFormat");
  }

  @Test
  void theOperatorsPodIsAdmittedUnderPodSecurityRestricted() {
    String namespace = "restricted-" + Long.toString(System.nanoTime() % 1_000_000, 36);
    client.resource(new NamespaceBuilder().withNewMetadata().withName(namespace)
        .addToLabels("pod-security.kubernetes.io/enforce", "restricted").endMetadata().build()).create();
    Deployment deployment = client.apps().deployments().inNamespace(RELEASE_NAMESPACE).withName("pv-operator").get();
    Pod pod = new PodBuilder().withNewMetadata().withName("operator").withNamespace(namespace).endMetadata()
        .withSpec(deployment.getSpec().getTemplate().getSpec()).build();

    client.pods().inNamespace(namespace).resource(pod).dryRun().create();

    // The admission is there, and would refuse a pod that keeps its capabilities.
    Pod unconfined = new PodBuilder(pod).editSpec().editFirstContainer().editSecurityContext().withCapabilities(null)
        .endSecurityContext().endContainer().endSpec().build();
    assertThatThrownBy(() -> client.pods().inNamespace(namespace).resource(unconfined).dryRun().create())
        .isInstanceOf(KubernetesClientException.class).hasMessageContaining("restricted");
  }

  @Test
  void theRulesHaveNoWildcardAndSecretsAreOnlyGotInTheCredentialsNamespace() {
    List<ClusterRole> clusterRoles = client.rbac().clusterRoles().withLabel("app.kubernetes.io/instance", "pv").list().getItems();
    List<Role> roles = client.rbac().roles().inAnyNamespace().withLabel("app.kubernetes.io/instance", "pv").list().getItems();
    assertThat(clusterRoles).extracting(r -> r.getMetadata().getName()).containsExactlyInAnyOrder("pv-operator", "pv-edit", "pv-view");
    List<PolicyRule> rules = Stream.concat(clusterRoles.stream().flatMap(r -> r.getRules().stream()),
        roles.stream().flatMap(r -> r.getRules().stream())).toList();
    assertThat(rules).isNotEmpty().allSatisfy(rule -> {
      assertThat(rule.getVerbs()).doesNotContain("*");
      assertThat(rule.getResources()).doesNotContain("*");
      assertThat(rule.getApiGroups()).doesNotContain("*");
    });
    assertThat(clusterRoles.stream().flatMap(r -> r.getRules().stream())).as("cluster-wide rules")
        .noneSatisfy(rule -> assertThat(rule.getResources()).contains("secrets"));
    assertThat(roles.stream().flatMap(r -> r.getRules().stream()).filter(rule -> rule.getResources().contains("secrets")))
        .singleElement().satisfies(rule -> assertThat(rule.getVerbs()).containsExactly("get"));
    assertThat(roles).filteredOn(r -> r.getMetadata().getName().equals("pv-operator-credentials"))
        .singleElement().satisfies(r -> assertThat(r.getMetadata().getNamespace()).isEqualTo(RELEASE_NAMESPACE));
    assertThat(client.rbac().clusterRoles().withName("pv-edit").get().getMetadata().getLabels())
        .containsEntry("rbac.authorization.k8s.io/aggregate-to-edit", "true");
  }

  @Test
  void theOperatorRunWithTheChartsServiceAccountRunsAVmThroughItsWholeLifeAndAnEvacuation() throws Exception {
    String token = client.serviceAccounts().inNamespace(RELEASE_NAMESPACE).withName("pv-operator")
        .tokenRequest(new TokenRequestBuilder().withNewSpec().withExpirationSeconds(3600L).endSpec().build())
        .getStatus().getToken();
    String serviceAccountKubeconfig = Kubeconfigs.withToken(token);
    try (KubernetesClient asOperator = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(serviceAccountKubeconfig)).build()) {
      // The token is the chart's, not an administrator's.
      assertThatThrownBy(() -> asOperator.secrets().inAnyNamespace().list())
          .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(403));
    }
    // Nodes reached over TLS, with the client certificate from a Secret in the chart's credentials
    // namespace: the chart's Role for Secrets is exercised too.
    LibvirtCerts certs = LibvirtCerts.make(scratch.resolve("certs"));
    try (KvmNodes nodes = KvmNodes.start(scratch.resolve("nodes"), Map.of("POLYVISOR_NODE_TLS", certs.folder().toString()),
            NODES.toArray(String[]::new));
        LibvirtDriver libvirt = new LibvirtDriver()) {
      for (String node : NODES) {
        NodeRegistration.register(nodes.tlsHost(node, "127.0.0.1"), "1Gi", CLASS);
      }
      client.resource(new SecretBuilder().withNewMetadata().withName("chart-it-kvm").withNamespace(RELEASE_NAMESPACE).endMetadata()
          .withData(certs.secretData("cacert.pem", "clientcert.pem", "clientkey.pem")).build()).serverSideApply();
      client.resource(TestManifests.tlsHypervisorClass(CLASS, RELEASE_NAMESPACE, "chart-it-kvm")).serverSideApply();
      client.resource(TestManifests.localStorageClass(STORAGE)).serverSideApply();
      // The shared API server keeps the classes of tests that ran before; a class whose Secret
      // lies outside the chart's credentials namespace is refused to this operator by design
      // (its nodes' CPU models cannot be read), which is not what this test looks for.
      client.resources(HypervisorClass.class).list().getItems().stream().filter(c -> !CLASS.equals(c.getMetadata().getName()))
          .forEach(c -> client.resource(c).delete());
      Path image = CounterGuest.build(scratch);
      String namespace = RealApiServer.newNamespace("chart");
      try (OperatorProcess operator = OperatorProcess.start(scratch.resolve("operator"), Map.of(
          "POLYVISOR_NAMESPACE", RELEASE_NAMESPACE, // leader election on the chart's Lease
          "POLYVISOR_LIBVIRT_PKI_DIR", scratch.resolve("pki").toString(),
          "POLYVISOR_CONSOLE_LOG_DIR", scratch.toString(), "POLYVISOR_SHUTDOWN_GRACE_SECONDS", "3"), serviceAccountKubeconfig)) {
        VirtualMachine vm = client.getKubernetesSerialization()
            .unmarshal(TestManifests.counterVm("life", CLASS, "Always", "32Mi", STORAGE, image), VirtualMachine.class);
        vm = client.resource(vm).inNamespace(namespace).create();
        String uid = vm.getMetadata().getUid();
        await().atMost(Duration.ofSeconds(90)).until(() -> phase(namespace) == VirtualMachinePhase.Running);
        String first = vm(namespace).getStatus().nodeName;
        assertThat(libvirt.find(nodes.host(first), uid)).map(GuestInfo::state).contains(GuestState.RUNNING);
        // The drain guard's placeholder pod, created with the chart's rights.
        await().atMost(Duration.ofSeconds(30)).until(() -> !client.pods().inNamespace(namespace).list().getItems().isEmpty());

        NodeRegistration.cordon(client, first, true);
        await().atMost(Duration.ofSeconds(120)).pollInterval(Duration.ofSeconds(1)).until(() -> "Completed".equals(
            client.nodes().withName(first).get().getStatus().getConditions().stream()
                .filter(c -> EvacuationReconciler.CONDITION.equals(c.getType())).map(NodeCondition::getReason).findFirst().orElse("")));
        String second = vm(namespace).getStatus().nodeName;
        assertThat(second).isNotEqualTo(first);
        assertThat(libvirt.find(nodes.host(second), uid)).map(GuestInfo::state).contains(GuestState.RUNNING);
        assertThat(libvirt.find(nodes.host(first), uid)).isEmpty();
        NodeRegistration.cordon(client, first, false);

        client.resources(VirtualMachine.class).inNamespace(namespace).withName("life")
            .patch(PatchContext.of(PatchType.JSON_MERGE), "{\"spec\":{\"runStrategy\":\"Halted\"}}");
        await().atMost(Duration.ofSeconds(60)).until(() -> phase(namespace) == VirtualMachinePhase.Stopped);
        assertThat(libvirt.find(nodes.host(second), uid)).map(GuestInfo::state).contains(GuestState.SHUT_OFF);

        client.resources(VirtualMachine.class).inNamespace(namespace).withName("life").delete();
        await().atMost(Duration.ofSeconds(60)).until(() -> vm(namespace) == null);
        for (String node : NODES) {
          assertThat(libvirt.find(nodes.host(node), uid)).as("nothing left on %s", node).isEmpty();
        }
        Matcher leading = Pattern.compile("leading as (\\S+)").matcher(operator.output());
        assertThat(leading.find()).as("the operator says it leads").isTrue();
        assertThat(client.leases().inNamespace(RELEASE_NAMESPACE).withName("polyvisor-operator").get().getSpec().getHolderIdentity())
            .isEqualTo(leading.group(1));
        assertThat(operator.output()).as("the operator's log").doesNotContain("Forbidden").doesNotContain("forbidden");
      }
    }
  }

  private static VirtualMachine vm(String namespace) {
    return client.resources(VirtualMachine.class).inNamespace(namespace).withName("life").get();
  }

  private static VirtualMachinePhase phase(String namespace) {
    VirtualMachine vm = vm(namespace);
    return vm == null || vm.getStatus() == null ? null : vm.getStatus().phase;
  }

  private static String helm(String... args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of(RealApiServer.binary("helm").toString(), "--kubeconfig", kubeconfig.toString()));
    command.addAll(List.of(args));
    return run(command);
  }

  private static String run(List<String> command) throws IOException, InterruptedException {
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(process.waitFor(2, TimeUnit.MINUTES)).isTrue();
    if (process.exitValue() != 0) {
      throw new IllegalStateException(String.join(" ", command) + " failed:\n" + output);
    }
    return output;
  }
}
