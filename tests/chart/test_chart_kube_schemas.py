"""Everything the chart installs is valid Kubernetes: built-in kinds against the API schemas of
Kubernetes 1.30 and the newest kubernetes-validate knows, the Continuum CRD as a CRD, and the
sample Continuum resources against the CRD's own schema."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from chart_support import CHART_DIR, ENABLED_VALUES, REPO_ROOT, Rendered, merge
from kubernetes_validate import utils as kv_utils

Render = Callable[[dict[str, Any]], Rendered]

KUBE_VERSIONS = ["1.30.0", kv_utils.latest_version()]
CRD_PATH = CHART_DIR / "crds" / "continuum.yaml"
FIXTURES = REPO_ROOT / "tests" / "fixtures"

# Kinds the chart may render that are not built into Kubernetes (validated elsewhere or not
# at all); any other unknown kind fails the test.
CUSTOM_KINDS = {"ServiceMonitor"}

# Every optional object and branch switched on, so every template line is validated.
EVERYTHING_ON = merge(
    ENABLED_VALUES,
    {
        "continuum": {
            "kubeconfig": {"secretName": "kc", "regionContexts": {"a": "ctx-a"}},
            "api": {"tokenSecretRef": {"name": "api-token", "key": "token"}},
            "pdmTokenSecretRef": {"name": "pdm-token", "key": "token"},
            "powerdns": {
                "apiURL": "http://pdns:8081",
                "apiKeySecretRef": {"name": "pdns", "key": "api-key"},
            },
            "watchNamespaces": ["apps"],
            "imagePullSecrets": ["regcred"],
            "podAnnotations": {"a": "b"},
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
            "health": {"vantages": ["8.8.8.8", "127.0.0.1:5300"]},
            "extraEnv": {"CONTINUUM_POWERDNS_SERVER_ID": "localhost", "HTTPS_PROXY": ""},
        },
        "networkPolicy": {
            "extraEgress": [
                {"to": [{"ipBlock": {"cidr": "104.16.0.0/13"}}], "ports": [{"port": 443}]}
            ]
        },
        "serviceMonitor": {"enabled": True},
    },
)


@pytest.fixture(scope="module")
def renderings(render: Render) -> dict[str, Rendered]:
    return {
        "minimal": render(ENABLED_VALUES),
        "everything-on": render(EVERYTHING_ON),
        "network-policy-off": render(merge(ENABLED_VALUES, {"networkPolicy": {"enabled": False}})),
    }


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("case", ["minimal", "everything-on", "network-policy-off"])
def test_every_rendered_builtin_object_validates_against_kubernetes_schemas(
    renderings: dict[str, Rendered], case: str, kube_version: str
) -> None:
    rendered = renderings[case]
    assert rendered.objects
    for obj in rendered.objects:
        if obj["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} on {kube_version}: {err}")


def test_the_extra_egress_rule_is_rendered_verbatim(renderings: dict[str, Rendered]) -> None:
    egress = renderings["everything-on"].one("NetworkPolicy")["spec"]["egress"]
    assert egress[-1] == EVERYTHING_ON["networkPolicy"]["extraEgress"][0]


def _crd() -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(CRD_PATH.read_text()) if d]
    assert len(docs) == 1, "chart/crds/continuum.yaml holds exactly one CRD"
    crd: dict[str, Any] = docs[0]
    return crd


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_continuum_crd_is_a_valid_custom_resource_definition(kube_version: str) -> None:
    crd = _crd()
    kubernetes_validate.validate(crd, kube_version, strict=True)
    assert crd["metadata"]["name"] == "continuums.dr.openova.io"
    assert crd["spec"]["names"]["kind"] == "Continuum"


def test_chart_ships_the_crd(chart: Any) -> None:
    names = [c["filename"] for c in chart.crds]
    assert any(name.endswith("crds/continuum.yaml") for name in names), names


def _structural_to_jsonschema(node: Any) -> Any:
    """Translate the OpenAPI v3 dialect of a CRD schema into plain JSON Schema: ``nullable``
    admits null, ``x-kubernetes-int-or-string`` admits both; other extensions are ignored."""
    if isinstance(node, list):
        return [_structural_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _structural_to_jsonschema(v) for k, v in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def _continuum_validator() -> jsonschema.Validator:
    versions = _crd()["spec"]["versions"]
    storage = next(v for v in versions if v.get("storage"))
    schema = _structural_to_jsonschema(copy.deepcopy(storage["schema"]["openAPIV3Schema"]))
    validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    validator_cls.check_schema(schema)
    validator: jsonschema.Validator = validator_cls(schema)
    return validator


def _sample_crs() -> list[Path]:
    return sorted(p for p in FIXTURES.glob("continuum-*.yaml") if "invalid" not in p.name)


def test_there_are_sample_continuum_resources() -> None:
    assert len(_sample_crs()) >= 1, f"no tests/fixtures/continuum-*.yaml in {FIXTURES}"


@pytest.mark.parametrize("path", _sample_crs(), ids=lambda p: p.name)
def test_sample_continuum_resource_validates_against_the_crd_schema(path: Path) -> None:
    validator = _continuum_validator()
    for doc in (d for d in yaml.safe_load_all(path.read_text()) if d):
        assert doc["apiVersion"] == "dr.openova.io/v1"
        assert doc["kind"] == "Continuum"
        errors = [
            f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)
        ]
        assert errors == [], f"{path.name}: {errors}"
