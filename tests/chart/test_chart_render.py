"""The chart lints clean and renders what each combination of gates asks for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import helm_python as helm
import pytest
from chart_support import CHART_DIR, ENABLED_VALUES, NAMESPACE, Rendered

Render = Callable[[dict[str, Any]], Rendered]
EnabledWith = Callable[[dict[str, Any]], dict[str, Any]]

ENABLED_KINDS = [
    "ClusterRole",
    "ClusterRoleBinding",
    "Deployment",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "Role",
    "Role",
    "Role",
    "RoleBinding",
    "RoleBinding",
    "RoleBinding",
    "Service",
    "ServiceAccount",
]


def _problems(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Lint findings of severity warning (2) or error (3): what ``helm lint --strict`` fails on."""
    return [m for m in report["messages"] if m["severity"] >= 2] + [
        {"error": e} for e in report["errors"]
    ]


@pytest.mark.parametrize("kube_version", ["v1.30.0", "v1.33.0"])
def test_lint_strict_passes_with_default_values(kube_version: str) -> None:
    report = helm.lint(CHART_DIR, strict=True, namespace=NAMESPACE, kube_version=kube_version)
    assert report["total_charts_linted"] == 1
    assert _problems(report) == []


def test_lint_strict_passes_with_the_controller_enabled() -> None:
    values = {
        **ENABLED_VALUES,
        "serviceMonitor": {"enabled": True},
    }
    report = helm.lint(CHART_DIR, values, strict=True, namespace=NAMESPACE, kube_version="v1.30.0")
    assert _problems(report) == []


def test_chart_metadata_names_bp_continuum_as_a_v2_application(chart: helm.Chart) -> None:
    meta = chart.metadata
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == "bp-continuum"
    assert meta["type"] == "application"
    assert meta["annotations"]["catalyst.openova.io/smoke-render-mode"] == "default-off"


def test_default_values_render_no_object_only_notes(render: Render) -> None:
    rendered = render({})
    assert rendered.objects == []
    assert "gate OFF" in rendered.notes
    assert "continuum.enabled=true" in rendered.notes


def test_enabled_chart_renders_the_controller_and_its_supporting_objects(
    render: Render,
) -> None:
    rendered = render(ENABLED_VALUES)
    assert rendered.kinds() == ENABLED_KINDS
    for obj in rendered.objects:
        assert obj["metadata"]["name"].startswith("continuum-controller")
        if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == NAMESPACE
    assert "port-forward svc/continuum-controller 8082:8082" in rendered.notes


def test_network_policy_disabled_renders_none(render: Render, enabled_with: EnabledWith) -> None:
    rendered = render(enabled_with({"networkPolicy": {"enabled": False}}))
    assert rendered.all("NetworkPolicy") == []
    assert rendered.all("Deployment") != []


def test_service_monitor_is_rendered_only_when_enabled(
    render: Render, enabled_with: EnabledWith
) -> None:
    assert render(ENABLED_VALUES).all("ServiceMonitor") == []
    rendered = render(enabled_with({"serviceMonitor": {"enabled": True, "labels": {"a": "b"}}}))
    monitor = rendered.one("ServiceMonitor")
    assert monitor["metadata"]["labels"]["a"] == "b"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    service_ports = {p["name"] for p in rendered.one("Service")["spec"]["ports"]}
    assert "metrics" in service_ports


def test_service_monitor_alone_does_not_bypass_the_gate(render: Render) -> None:
    assert render({"serviceMonitor": {"enabled": True}}).objects == []


def test_pod_disruption_budget_is_skipped_for_a_single_replica(
    render: Render, enabled_with: EnabledWith
) -> None:
    rendered = render(enabled_with({"continuum": {"replicas": 1}}))
    assert rendered.all("PodDisruptionBudget") == []
    budget = render(ENABLED_VALUES).one("PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1


def test_enabled_chart_without_region_fails_naming_the_value(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmRenderError, match=r"continuum\.region is required"):
        chart.render({"continuum": {"enabled": True, "pdmURL": "http://pdm:8080"}})


def test_powerdns_writer_without_api_url_fails_naming_the_value(chart: helm.Chart) -> None:
    values = {"continuum": {"enabled": True, "region": "eu-west", "dnsWriter": "powerdns"}}
    with pytest.raises(helm.HelmRenderError, match=r"continuum\.powerdns\.apiURL is required"):
        chart.render(values)


def test_pdm_writer_without_pdm_url_renders_with_a_warning(render: Render) -> None:
    rendered = render({"continuum": {"enabled": True, "region": "eu-west"}})
    assert "CONTINUUM_PDM_URL" not in rendered.env()
    assert "continuum.pdmURL is empty" in rendered.notes


def test_extra_env_cannot_override_a_variable_the_chart_sets(
    chart: helm.Chart, enabled_with: EnabledWith
) -> None:
    values = enabled_with({"continuum": {"extraEnv": {"CONTINUUM_API_ADDR": ":1"}}})
    with pytest.raises(helm.HelmRenderError, match=r"continuum\.extraEnv\.CONTINUUM_API_ADDR"):
        chart.render(values)


def test_several_replicas_without_leader_election_fail(
    chart: helm.Chart, enabled_with: EnabledWith
) -> None:
    values = enabled_with({"continuum": {"leaderElection": {"enabled": False}, "sharding": False}})
    with pytest.raises(helm.HelmRenderError, match="leaderElection"):
        chart.render(values)


def test_image_defaults_to_the_app_version_never_latest(render: Render, chart: helm.Chart) -> None:
    image = render(ENABLED_VALUES).container()["image"]
    assert (
        image == f"ghcr.io/openova-io/openova/continuum-controller:{chart.metadata['appVersion']}"
    )


def test_global_image_registry_replaces_the_registry_host(
    render: Render, enabled_with: EnabledWith
) -> None:
    values = enabled_with(
        {"global": {"imageRegistry": "harbor.example"}, "continuum": {"image": {"tag": "abc1234"}}}
    )
    image = render(values).container()["image"]
    assert image == "harbor.example/openova-io/openova/continuum-controller:abc1234"
