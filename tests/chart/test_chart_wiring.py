"""Values reach the controller where they should: ports, env, Secrets, probes, security."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from chart_support import ENABLED_VALUES, NAMESPACE, Rendered, merge

Render = Callable[[dict[str, Any]], Rendered]

# One rendering with every optional value set, shared by the module (one Helm call).
FULL_VALUES = merge(
    ENABLED_VALUES,
    {
        "continuum": {
            "watchNamespaces": ["apps-a", "apps-b"],
            "kubeconfig": {
                "secretName": "continuum-kubeconfig",
                "key": "config",
                "regionContexts": {"eu-west": "ctx-west", "eu-central": "ctx-central"},
            },
            "witness": {
                "secretNamespace": "witness-secrets",
                "k8sLeaseContext": "ctx-witness",
                "leaseNamespace": "dr-leases",
            },
            "audit": {"outboxLimit": 500, "required": True},
            "clusterDomain": "example.internal",
            "pdmTokenSecretRef": {"name": "pdm-token", "key": "tok"},
            "powerdns": {
                "apiURL": "http://powerdns.openova-system.svc:8081",
                "apiKeySecretRef": {"name": "pdns-key", "key": "api-key"},
            },
            "api": {"port": 9443, "tokenSecretRef": {"name": "continuum-api", "key": "bearer"}},
            "health": {
                "postSwitchoverDelaySeconds": 7,
                "vantages": ["10.0.0.53", "10.0.0.54:5353"],
            },
            "metrics": {"port": 9100},
            "log": {"level": "debug", "format": "console"},
            "shutdownTimeoutSeconds": 40,
            "extraEnv": {"CONTINUUM_POWERDNS_SERVER_ID": "pdns-1"},
        }
    },
)


@pytest.fixture(scope="module")
def full(render: Render) -> Rendered:
    return render(FULL_VALUES)


@pytest.fixture(scope="module")
def minimal(render: Render) -> Rendered:
    return render(ENABLED_VALUES)


def _port_of_addr(addr: str) -> int:
    host, _, port = addr.rpartition(":")
    assert host == "", f"the chart binds every address on all interfaces, got {addr!r}"
    return int(port)


def test_api_port_value_is_container_port_service_target_and_api_addr(full: Rendered) -> None:
    port = FULL_VALUES["continuum"]["api"]["port"]
    container_ports = {p["name"]: p["containerPort"] for p in full.container()["ports"]}
    assert container_ports["api"] == port
    service_port = next(p for p in full.one("Service")["spec"]["ports"] if p["name"] == "api")
    assert service_port["port"] == port
    assert service_port["targetPort"] == "api"  # the named container port, i.e. `port`
    assert _port_of_addr(full.env()["CONTINUUM_API_ADDR"]["value"]) == port


def test_default_api_port_is_8082(minimal: Rendered) -> None:
    assert minimal.env()["CONTINUUM_API_ADDR"]["value"] == ":8082"
    service_port = next(p for p in minimal.one("Service")["spec"]["ports"] if p["name"] == "api")
    assert service_port["port"] == 8082


def test_metrics_port_value_is_container_port_service_port_and_metrics_addr(
    full: Rendered,
) -> None:
    container_ports = {p["name"]: p["containerPort"] for p in full.container()["ports"]}
    assert container_ports["metrics"] == 9100
    service_port = next(p for p in full.one("Service")["spec"]["ports"] if p["name"] == "metrics")
    assert (service_port["port"], service_port["targetPort"]) == (9100, "metrics")
    assert _port_of_addr(full.env()["CONTINUUM_METRICS_ADDR"]["value"]) == 9100


def test_health_delay_value_reaches_the_env(full: Rendered, minimal: Rendered) -> None:
    assert full.env()["CONTINUUM_HEALTH_DELAY_SECONDS"]["value"] == "7"
    assert minimal.env()["CONTINUUM_HEALTH_DELAY_SECONDS"]["value"] == "30"


def test_health_delay_zero_is_passed_through_not_replaced(
    render: Render, enabled_with: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    rendered = render(enabled_with({"continuum": {"health": {"postSwitchoverDelaySeconds": 0}}}))
    assert rendered.env()["CONTINUUM_HEALTH_DELAY_SECONDS"]["value"] == "0"


@pytest.mark.parametrize(
    ("env_name", "secret", "key"),
    [
        ("CONTINUUM_API_TOKEN", "continuum-api", "bearer"),
        ("CONTINUUM_PDM_TOKEN", "pdm-token", "tok"),
        ("CONTINUUM_POWERDNS_API_KEY", "pdns-key", "api-key"),
    ],
)
def test_secret_env_comes_from_the_named_secret_key_never_a_literal(
    full: Rendered, env_name: str, secret: str, key: str
) -> None:
    entry = full.env()[env_name]
    assert "value" not in entry
    assert entry["valueFrom"] == {"secretKeyRef": {"name": secret, "key": key}}


def test_without_token_secret_no_token_env_is_set(minimal: Rendered) -> None:
    env = minimal.env()
    for name in ("CONTINUUM_API_TOKEN", "CONTINUUM_PDM_TOKEN", "CONTINUUM_POWERDNS_API_KEY"):
        assert name not in env


def test_no_env_value_holds_a_secret_in_clear(full: Rendered) -> None:
    for name, entry in full.env().items():
        if name.endswith(("_TOKEN", "_KEY", "_PASSWORD", "_SECRET")):
            assert "value" not in entry, name


def test_region_and_endpoints_are_wired_to_their_env(full: Rendered) -> None:
    env = {name: e.get("value") for name, e in full.env().items()}
    assert env["CONTINUUM_REGION"] == "eu-west"
    assert env["CONTINUUM_NATS_URL"] == ENABLED_VALUES["continuum"]["natsURL"]
    assert env["CONTINUUM_PDM_URL"] == ENABLED_VALUES["continuum"]["pdmURL"]
    assert env["CONTINUUM_POWERDNS_API_URL"] == "http://powerdns.openova-system.svc:8081"
    assert env["CONTINUUM_DNS_WRITER"] == "pdm"
    assert env["CONTINUUM_AUDIT_SUBJECT"] == "catalyst.audit"
    assert env["CONTINUUM_AUDIT_STREAM"] == "CATALYST_AUDIT"
    assert env["CONTINUUM_WATCH_NAMESPACES"] == "apps-a,apps-b"
    assert env["CONTINUUM_HEALTH_VANTAGES"] == "10.0.0.53,10.0.0.54:5353"
    assert env["CONTINUUM_LOG_LEVEL"] == "debug"
    assert env["CONTINUUM_LOG_FORMAT"] == "console"
    assert env["CONTINUUM_WITNESS_SECRET_NAMESPACE"] == "witness-secrets"
    assert env["CONTINUUM_WITNESS_CONTEXT"] == "ctx-witness"
    assert env["CONTINUUM_WITNESS_LEASE_NAMESPACE"] == "dr-leases"
    assert env["CONTINUUM_AUDIT_OUTBOX_LIMIT"] == "500"
    assert env["CONTINUUM_AUDIT_REQUIRED"] == "true"
    assert env["CONTINUUM_CLUSTER_DOMAIN"] == "example.internal"
    assert env["CONTINUUM_POWERDNS_SERVER_ID"] == "pdns-1"


def test_kubeconfig_secret_is_mounted_read_only_and_named_by_env(full: Rendered) -> None:
    env = full.env()
    assert env["CONTINUUM_KUBECONFIG"]["value"] == "/etc/continuum/kubeconfig/config"
    assert env["CONTINUUM_REGION_CONTEXTS"]["value"] == "eu-central=ctx-central,eu-west=ctx-west"
    mount = next(m for m in full.container()["volumeMounts"] if m["name"] == "kubeconfig")
    assert (mount["mountPath"], mount["readOnly"]) == ("/etc/continuum/kubeconfig", True)
    pod = full.one("Deployment")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "kubeconfig")
    assert volume["secret"]["secretName"] == "continuum-kubeconfig"


def test_without_kubeconfig_secret_the_in_cluster_account_is_used(minimal: Rendered) -> None:
    env = minimal.env()
    assert "CONTINUUM_KUBECONFIG" not in env
    assert "CONTINUUM_REGION_CONTEXTS" not in env
    volumes = minimal.one("Deployment")["spec"]["template"]["spec"]["volumes"]
    assert [v["name"] for v in volumes] == ["tmp"]


def test_leader_election_is_on_with_the_lease_in_the_pod_namespace(minimal: Rendered) -> None:
    env = minimal.env()
    assert minimal.one("Deployment")["spec"]["replicas"] == 2
    assert env["CONTINUUM_LEADER_ELECTION"]["value"] == "true"
    assert env["CONTINUUM_LEADER_LEASE_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }


def test_probes_hit_healthz_and_readyz_on_the_api_port(full: Rendered) -> None:
    container = full.container()
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "api"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "api"}


def test_container_runs_restricted_with_a_read_only_root(minimal: Rendered) -> None:
    pod = minimal.one("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = minimal.container()["securityContext"]
    assert ctx["runAsNonRoot"] is True
    assert ctx["runAsUser"] == 10001
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}


def test_tmp_is_a_writable_empty_dir(minimal: Rendered) -> None:
    pod = minimal.one("Deployment")["spec"]["template"]["spec"]
    tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
    assert "emptyDir" in tmp
    mount = next(m for m in minimal.container()["volumeMounts"] if m["name"] == "tmp")
    assert mount["mountPath"] == "/tmp"
    assert not mount.get("readOnly", False)


def test_termination_grace_outlasts_the_shutdown_timeout(full: Rendered, minimal: Rendered) -> None:
    for rendered in (full, minimal):
        pod = rendered.one("Deployment")["spec"]["template"]["spec"]
        timeout = int(rendered.env()["CONTINUUM_SHUTDOWN_TIMEOUT_SECONDS"]["value"])
        assert pod["terminationGracePeriodSeconds"] > timeout
    assert full.env()["CONTINUUM_SHUTDOWN_TIMEOUT_SECONDS"]["value"] == "40"


def test_controller_runs_the_run_subcommand_under_its_service_account(minimal: Rendered) -> None:
    pod = minimal.one("Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == minimal.one("ServiceAccount")["metadata"]["name"]
    assert minimal.container()["args"] == ["run"]


def test_service_selects_the_controller_pods(minimal: Rendered) -> None:
    pod_labels = minimal.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    selector = minimal.one("Service")["spec"]["selector"]
    assert selector.items() <= pod_labels.items()
    assert minimal.one("Service")["metadata"]["namespace"] == NAMESPACE


def test_network_policy_admits_the_api_from_catalyst_api_and_metrics_from_monitoring(
    full: Rendered,
) -> None:
    spec = full.one("NetworkPolicy")["spec"]
    api_rule, metrics_rule = spec["ingress"]
    assert api_rule["ports"] == [{"protocol": "TCP", "port": 9443}]
    peer = api_rule["from"][0]
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "catalyst-system"
    }
    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "catalyst-api"}
    assert metrics_rule["ports"] == [{"protocol": "TCP", "port": 9100}]
    assert metrics_rule["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }


def _egress_ports(spec: dict[str, Any]) -> set[tuple[str, int]]:
    return {(p["protocol"], p["port"]) for rule in spec["egress"] for p in rule.get("ports", [])}


def test_network_policy_lets_out_kube_api_nats_pdm_powerdns_and_dns_vantages(
    full: Rendered,
) -> None:
    spec = full.one("NetworkPolicy")["spec"]
    ports = _egress_ports(spec)
    for expected in [
        ("TCP", 443),
        ("TCP", 6443),
        ("UDP", 53),
        ("TCP", 53),
        ("TCP", 4222),
        ("TCP", 8080),
        ("TCP", 8081),
        ("UDP", 5353),
    ]:
        assert expected in ports, expected
    vantage_rules = {
        rule["to"][0]["ipBlock"]["cidr"]: {p["port"] for p in rule["ports"]}
        for rule in spec["egress"]
        if "ipBlock" in rule["to"][0] and rule["to"][0]["ipBlock"]["cidr"].startswith("10.0.0.")
    }
    assert vantage_rules == {"10.0.0.53/32": {53}, "10.0.0.54/32": {5353}}


def test_network_policy_opens_no_egress_for_unconfigured_services(minimal: Rendered) -> None:
    ports = _egress_ports(minimal.one("NetworkPolicy")["spec"])
    assert ("TCP", 8081) not in ports  # no PowerDNS API configured
