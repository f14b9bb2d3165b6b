"""The chart speaks the controller's configuration language: every variable it sets is one
``continuum.config`` reads, and the rendered environment parses into the intended Settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml
from chart_support import CHART_DIR, ENABLED_VALUES, NAMESPACE, Rendered, merge

from continuum.config import Address, Settings, known_variables

Render = Callable[[dict[str, Any]], Rendered]

SECRET_VALUE = "from-the-secret"

FULL_VALUES = merge(
    ENABLED_VALUES,
    {
        "continuum": {
            "watchNamespaces": ["apps-a", "apps-b"],
            "kubeconfig": {
                "secretName": "kc",
                "regionContexts": {"eu-west": "ctx-west", "eu-central": "ctx-central"},
            },
            "witness": {
                "secretNamespace": "witness",
                "k8sLeaseContext": "ctx-third",
                "leaseNamespace": "dr-leases",
            },
            "audit": {"outboxLimit": 50, "required": True},
            "dnsWriter": "powerdns",
            "pdmTokenSecretRef": {"name": "pdm", "key": "token"},
            "powerdns": {
                "apiURL": "http://pdns.openova-system.svc:8081",
                "apiKeySecretRef": {"name": "pdns", "key": "api-key"},
            },
            "api": {"port": 9000, "tokenSecretRef": {"name": "api", "key": "token"}},
            "health": {"postSwitchoverDelaySeconds": 0, "vantages": ["10.1.1.1", "10.1.1.2:5353"]},
            "metrics": {"port": 9100},
            "log": {"level": "warning", "format": "console"},
            "clusterDomain": "corp.internal",
            "shutdownTimeoutSeconds": 45,
        }
    },
)


POD_IP = "10.244.1.7"


@pytest.fixture(scope="module")
def renderings(render: Render) -> list[Rendered]:
    return [render(ENABLED_VALUES), render(FULL_VALUES)]


def _container_env(rendered: Rendered) -> dict[str, str]:
    """The environment the container would see, with Secret and downward-API references
    resolved the way the kubelet would."""
    env: dict[str, str] = {}
    for name, entry in rendered.env().items():
        if "value" in entry:
            env[name] = entry["value"]
        elif "secretKeyRef" in entry["valueFrom"]:
            env[name] = SECRET_VALUE
        elif entry["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}:
            env[name] = POD_IP
        else:
            assert entry["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
            env[name] = NAMESPACE
    return env


def test_every_variable_the_chart_sets_is_one_config_reads(renderings: list[Rendered]) -> None:
    known = known_variables()
    for rendered in renderings:
        unknown = sorted(set(rendered.env()) - known)
        assert unknown == [], f"the controller ignores: {unknown}"


def test_the_chart_uses_the_continuum_names_not_the_reference_aliases(
    renderings: list[Rendered],
) -> None:
    for rendered in renderings:
        for name in rendered.env():
            assert name.startswith("CONTINUUM_"), name


def test_the_template_list_of_chart_variables_is_what_the_full_rendering_sets(
    renderings: list[Rendered], chart: Any
) -> None:
    helpers = next(t["data"] for t in chart.templates if t["name"].endswith("_helpers.tpl"))
    block = helpers.split('define "continuum.chartEnvNames"', 1)[1].split("end", 1)[0]
    listed = {word.strip('"') for word in block.split() if word.startswith('"CONTINUUM_')}
    assert listed == set(renderings[1].env())


def test_default_rendering_parses_into_the_documented_defaults(
    renderings: list[Rendered],
) -> None:
    settings = Settings.from_env(_container_env(renderings[0]))
    settings.require_for_run()
    assert settings.region == "eu-west"
    assert settings.api_addr == Address("", 8082)
    assert settings.metrics_addr == Address("", 8080)
    assert settings.health_delay_seconds == 30
    assert settings.api_token == ""
    assert settings.leader_election is True
    assert settings.leader_lease_namespace == NAMESPACE
    assert settings.witness_secret_namespace == NAMESPACE
    assert settings.kubeconfig == ""
    assert settings.shutdown_timeout_seconds == 20
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())["continuum"]
    assert settings.leader_lease_name == values["leaderElection"]["leaseName"]
    assert settings.health_vantages == tuple(values["health"]["vantages"])
    assert settings.audit_subject == values["audit"]["subject"]
    assert settings.audit_stream == values["audit"]["stream"]
    assert settings.audit_outbox_limit == values["audit"]["outboxLimit"]
    assert settings.cluster_domain == values["clusterDomain"]


def test_full_rendering_parses_into_every_value_set(renderings: list[Rendered]) -> None:
    settings = Settings.from_env(_container_env(renderings[1]))
    settings.require_for_run()
    assert settings.watch_namespaces == ("apps-a", "apps-b")
    assert settings.kubeconfig == "/etc/continuum/kubeconfig/kubeconfig"
    assert dict(settings.region_contexts) == {"eu-west": "ctx-west", "eu-central": "ctx-central"}
    assert settings.witness_secret_namespace == "witness"
    assert settings.witness_context == "ctx-third"
    assert settings.witness_lease_namespace == "dr-leases"
    assert settings.nats_url == ENABLED_VALUES["continuum"]["natsURL"]
    assert settings.audit_outbox_limit == 50
    assert settings.audit_required is True
    assert settings.dns_writer == "powerdns"
    assert settings.pdm_url == ENABLED_VALUES["continuum"]["pdmURL"]
    assert settings.pdm_token == SECRET_VALUE
    assert settings.powerdns_api_url == "http://pdns.openova-system.svc:8081"
    assert settings.powerdns_api_key == SECRET_VALUE
    assert settings.api_addr == Address("", 9000)
    assert settings.api_token == SECRET_VALUE
    assert settings.health_delay_seconds == 0
    assert settings.health_vantages == ("10.1.1.1", "10.1.1.2:5353")
    assert settings.metrics_addr == Address("", 9100)
    assert (settings.log_level, settings.log_format) == ("warning", "console")
    assert settings.cluster_domain == "corp.internal"
    assert settings.shutdown_timeout_seconds == 45
    assert settings.pod_ip == POD_IP  # sharded: the peers forward to http://<pod IP>:<port>
