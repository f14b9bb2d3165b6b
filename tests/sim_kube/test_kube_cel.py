"""The CRD's CEL rules (``x-kubernetes-validations``) run on create, update and patch.

Every rule of ``chart/crds/continuum.yaml`` is enumerated from the file and run against a
valid and an invalid object: a rule added to the CRD without a case here fails
``test_every_rule_of_the_chart_crd_has_a_case``. The fixtures under ``tests/fixtures`` are
judged by the emulator too, naming the field ``decode_continuum`` names.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from continuum_sim.kube import KubeEmulator
from continuum_sim.kube.cel import compile_expression, evaluate
from continuum_sim.kube.status import StatusError
from tests.sim_kube.kube_helpers import (
    GROUP,
    KUBECTL,
    MERGE,
    PLURAL,
    VERSION,
    Kubectl,
    continuum,
    create_cr,
    patch_cr,
)

JSON_PATCH = "application/json-patch+json"

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
CHART_CRD = ROOT / "chart" / "crds" / "continuum.yaml"
FIXTURES = ROOT / "tests" / "fixtures"


def _rules(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """``(path of the node, rule)`` for every rule under ``schema``."""
    found = [(path, rule) for rule in schema.get("x-kubernetes-validations", [])]
    for name, sub in (schema.get("properties") or {}).items():
        found += _rules(sub, f"{path}.{name}" if path else name)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += _rules(schema[key], path)
    return found


CRD_DOC = yaml.safe_load(CHART_CRD.read_text())
RULES = _rules(CRD_DOC["spec"]["versions"][0]["schema"]["openAPIV3Schema"])

Spec = dict[str, Any]
_CLOUDFLARE_REF = {"name": "cf", "key": "token"}
_RESOLVERS = ["192.0.2.1", "192.0.2.2", "192.0.2.3"]
_APIS = ["http://192.0.2.1:8081", "http://192.0.2.2:8081", "http://192.0.2.3:8081"]
_LUA = {"hostnames": ["shop.example.com"], "healthCheck": {"url": "https://x/healthz"}}


def _regions(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "lbIPs": [f"192.0.2.{i + 10}"]} for i, n in enumerate(names)]


def _lease(kind: str, **config_: Any) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        spec["leaseClient"] = {"kind": kind, "config": config_}

    return change


def _set(**fields: Any) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        spec.update(copy.deepcopy(fields))

    return change


# The rule's message -> (a change that satisfies it, a change that breaks it).
CASES: dict[str, tuple[Callable[[Spec], None], Callable[[Spec], None]]] = {
    "renewSeconds must be less than ttlSeconds/2": (
        _lease("k8s-lease", ttlSeconds=30, renewSeconds=14),
        _lease("k8s-lease", ttlSeconds=30, renewSeconds=15),
    ),
    "config.baseURL is required for kind cloudflare-kv": (
        _lease("cloudflare-kv", baseURL="https://w.example", tokenSecretRef=_CLOUDFLARE_REF),
        _lease("cloudflare-kv", tokenSecretRef=_CLOUDFLARE_REF),
    ),
    "config.tokenSecretRef is required for kind cloudflare-kv": (
        _lease("cloudflare-kv", baseURL="https://w.example", tokenSecretRef=_CLOUDFLARE_REF),
        _lease("cloudflare-kv", baseURL="https://w.example"),
    ),
    "config.resolvers is required for kind dns-quorum": (
        _lease("dns-quorum", resolvers=_RESOLVERS, powerdnsAPIs=_APIS),
        _lease("dns-quorum", powerdnsAPIs=_APIS),
    ),
    "config.powerdnsAPIs must list one PowerDNS API URL per resolver": (
        _lease("dns-quorum", resolvers=_RESOLVERS, powerdnsAPIs=_APIS),
        _lease("dns-quorum", resolvers=_RESOLVERS, powerdnsAPIs=[*_APIS, "http://192.0.2.4:8081"]),
    ),
    "hotStandbyRegions must not contain the primaryRegion": (
        _set(hotStandbyRegions=["hel", "ash"]),
        _set(hotStandbyRegions=["hel", "fsn"]),
    ),
    "regions must list the primaryRegion and every hot standby when luaRecord is set": (
        _set(luaRecord=_LUA, pdmZone="example.com", regions=_regions("fsn", "hel")),
        _set(luaRecord=_LUA, pdmZone="example.com", regions=_regions("fsn")),
    ),
    "cnpgPair is required for switchover.mechanism cnpg-pair (the default)": (
        _set(switchover={"mechanism": "stateless"}, cnpgPair=None),
        _set(cnpgPair=None),
    ),
    "pdmZone is required when luaRecord is set": (
        _set(luaRecord=_LUA, pdmZone="example.com", regions=_regions("fsn", "hel")),
        _set(luaRecord=_LUA, regions=_regions("fsn", "hel")),
    ),
    "luaRecord.hostnames must be inside pdmZone": (
        _set(luaRecord=_LUA, pdmZone="example.com", regions=_regions("fsn", "hel")),
        _set(luaRecord=_LUA, pdmZone="ample.com", regions=_regions("fsn", "hel")),
    ),
    "switchover.targetRegion must be the primaryRegion or a hot standby": (
        _set(switchover={"targetRegion": "hel"}),
        _set(switchover={"targetRegion": "ash"}),
    ),
    "health.latencyProbe.urls keys must be the primaryRegion or hot standbys": (
        _set(health={"latencyProbe": {"urls": {"fsn": "https://a", "hel": "https://b"}}}),
        _set(health={"latencyProbe": {"urls": {"fsn": "https://a", "ash": "https://b"}}}),
    ),
    "replicationProbe.dsnSecretRefs keys must be the primaryRegion or hot standbys": (
        _set(replicationProbe={"dsnSecretRefs": {"hel": {"name": "dsn", "key": "hel"}}}),
        _set(replicationProbe={"dsnSecretRefs": {"ash": {"name": "dsn", "key": "ash"}}}),
    ),
}


def _body(name: str, change: Callable[[Spec], None] | None = None) -> dict[str, Any]:
    body = continuum(
        name,
        primaryRegion="fsn",
        hotStandbyRegions=["hel"],
        leaseClient={"kind": "k8s-lease", "config": {}},
        cnpgPair={"name": "shop-pg"},
    )
    if change is not None:
        change(body["spec"])
    # ``None`` in a change removes the field (a rule about an absent field).
    body["spec"] = {k: v for k, v in body["spec"].items() if v is not None}
    return body


@pytest.fixture
async def chart_kube() -> AsyncIterator[KubeEmulator]:
    """An emulator serving the chart's Continuum CRD (with its CEL rules)."""
    async with KubeEmulator(region="a", crd_paths=[CHART_CRD]) as emulator:
        emulator.ensure_namespace("acme")
        yield emulator


@pytest.fixture
async def chart_crs(chart_kube: KubeEmulator, tmp_path: Path) -> AsyncIterator[Any]:
    path = chart_kube.write_kubeconfig(tmp_path / "kubeconfig")
    api = await config.new_client_from_config(config_file=str(path), context="a")
    async with api:
        yield client.CustomObjectsApi(api)


async def _refusal(call: Any) -> dict[str, Any]:
    with pytest.raises(ApiException) as caught:
        await call
    assert caught.value.status == 422, caught.value.body
    error: dict[str, Any] = json.loads(caught.value.body)
    assert error["reason"] == "Invalid"
    return error


def test_every_rule_of_the_chart_crd_has_a_case() -> None:
    messages = [rule["message"] for _, rule in RULES]
    assert len(messages) >= 10
    missing = [m for m in messages if m not in CASES]
    assert missing == [], f"rules without a valid/invalid case in CASES: {missing}"
    assert set(CASES) <= set(messages), "CASES names rules the CRD no longer has"


@pytest.mark.parametrize(("path", "rule"), RULES, ids=[r["message"] for _, r in RULES])
async def test_rule_accepts_the_valid_object_and_refuses_the_invalid_one(
    chart_crs: client.CustomObjectsApi, path: str, rule: dict[str, Any]
) -> None:
    valid, broken = CASES[rule["message"]]
    created = await create_cr(chart_crs, _body("valid", valid))
    assert created["metadata"]["generation"] == 1
    field = path + rule["fieldPath"]
    error = await _refusal(create_cr(chart_crs, _body("invalid", broken)))
    expected = {
        "reason": "FieldValueInvalid",
        "field": field,
        "message": f'Invalid value: "object": {rule["message"]}',
    }
    assert expected in error["details"]["causes"]
    assert f'{field}: Invalid value: "object": {rule["message"]}' in error["message"]
    # The same rule on update (PUT) and on patch of the valid object.
    spec = _body("valid", broken)["spec"]
    created["spec"] = spec
    error = await _refusal(
        chart_crs.replace_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, "valid", created
        )
    )
    assert expected in error["details"]["causes"]
    replace = [{"op": "replace", "path": "/spec", "value": spec}]
    error = await _refusal(patch_cr(chart_crs, "valid", replace, content_type=JSON_PATCH))
    assert expected in error["details"]["causes"]


def _expectation(text: str) -> str:
    match = re.search(r"^# expect: (\S+)$", text, re.MULTILINE)
    assert match is not None
    return match.group(1)


VALID_FIXTURES = {p.name: p.read_text() for p in sorted(FIXTURES.glob("continuum-*.yaml"))}
INVALID_FIXTURES = {
    p.name: p.read_text() for p in sorted((FIXTURES / "invalid").glob("continuum-invalid-*.yaml"))
}


@pytest.mark.parametrize("text", VALID_FIXTURES.values(), ids=VALID_FIXTURES.keys())
async def test_valid_fixture_is_accepted(chart_kube: KubeEmulator, text: str) -> None:
    obj = yaml.safe_load(text)
    chart_kube.ensure_namespace(obj["metadata"]["namespace"])
    assert chart_kube.apply(obj).created


@pytest.mark.parametrize("text", INVALID_FIXTURES.values(), ids=INVALID_FIXTURES.keys())
async def test_invalid_fixture_is_refused_naming_the_field_the_decoder_names(
    chart_kube: KubeEmulator, text: str
) -> None:
    obj = yaml.safe_load(text)
    chart_kube.ensure_namespace(obj["metadata"]["namespace"])
    with pytest.raises(StatusError) as caught:
        chart_kube.apply(obj)
    assert caught.value.code == 422
    causes = (caught.value.details or {}).get("causes", [])
    assert _expectation(text) in {c["field"] for c in causes}


# --- transition rules, messageExpression, reason, ratcheting, compile errors ---------------


def _widget_crd(*rules: dict[str, Any], spec_rules: tuple[dict[str, Any], ...] = ()) -> Any:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "x-kubernetes-validations": list(spec_rules),
                                    "properties": {
                                        "size": {
                                            "type": "integer",
                                            "x-kubernetes-validations": list(rules),
                                        },
                                        "ratio": {"type": "number"},
                                        "tags": {"type": "array", "items": {"type": "string"}},
                                        "owner": {"type": "string"},
                                    },
                                },
                                "status": {
                                    "type": "object",
                                    "properties": {"seen": {"type": "integer"}},
                                },
                            },
                        }
                    },
                }
            ],
        },
    }


def _widget(name: str = "w", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


@pytest.fixture
async def widgets(kube: KubeEmulator, api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


async def _install(api: client.ApiClient, crd: dict[str, Any]) -> None:
    await client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)


async def test_transition_rule_sees_old_self_on_update_and_patch_and_not_on_create(
    api: client.ApiClient, widgets: client.CustomObjectsApi
) -> None:
    await _install(api, _widget_crd({"rule": "self >= oldSelf", "message": "size may only grow"}))
    created = await widgets.create_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", _widget(size=5)
    )
    grown = await widgets.patch_namespaced_custom_object(
        "example.com",
        "v1",
        "default",
        "widgets",
        "w",
        {"spec": {"size": 6}},
        _content_type=MERGE,
    )
    assert grown["spec"]["size"] == 6
    error = await _refusal(
        widgets.patch_namespaced_custom_object(
            "example.com",
            "v1",
            "default",
            "widgets",
            "w",
            {"spec": {"size": 1}},
            _content_type=MERGE,
        )
    )
    assert error["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "field": "spec.size",
            "message": 'Invalid value: "integer": size may only grow',
        }
    ]
    grown["spec"]["size"] = 2
    await _refusal(
        widgets.replace_namespaced_custom_object(
            "example.com", "v1", "default", "widgets", "w", grown
        )
    )
    assert created["spec"]["size"] == 5


async def test_optional_old_self_runs_on_create_with_none(
    api: client.ApiClient, widgets: client.CustomObjectsApi
) -> None:
    rule = {
        "rule": "oldSelf.hasValue() ? self >= oldSelf.value() : self == 1",
        "optionalOldSelf": True,
        "message": "starts at 1 and only grows",
    }
    await _install(api, _widget_crd(rule))
    error = await _refusal(
        widgets.create_namespaced_custom_object(
            "example.com", "v1", "default", "widgets", _widget(size=2)
        )
    )
    assert error["details"]["causes"][0]["message"] == (
        'Invalid value: "integer": starts at 1 and only grows'
    )
    await widgets.create_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", _widget(size=1)
    )
    grown = await widgets.patch_namespaced_custom_object(
        "example.com",
        "v1",
        "default",
        "widgets",
        "w",
        {"spec": {"size": 3}},
        _content_type=MERGE,
    )
    assert grown["spec"]["size"] == 3


async def test_message_expression_reason_and_default_message(
    api: client.ApiClient, widgets: client.CustomObjectsApi
) -> None:
    await _install(
        api,
        _widget_crd(
            {
                "rule": "self < 10",
                "messageExpression": "'size ' + string(self) + ' is over 9'",
                "reason": "FieldValueForbidden",
            },
            spec_rules=(
                {"rule": "!has(self.ratio) || self.ratio < 1.0"},
                {"rule": "!has(self.tags) || self.tags.isSorted()", "fieldPath": ".tags"},
            ),
        ),
    )
    error = await _refusal(
        widgets.create_namespaced_custom_object(
            "example.com", "v1", "default", "widgets", _widget(size=12, ratio=2, tags=["b", "a"])
        )
    )
    # The API server's order: a node's own rules, then its children's.
    assert error["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "field": "spec",
            "message": 'Invalid value: "object": failed rule: !has(self.ratio) || self.ratio < 1.0',
        },
        {
            "reason": "FieldValueInvalid",
            "field": "spec.tags",
            "message": 'Invalid value: "object": failed rule: '
            "!has(self.tags) || self.tags.isSorted()",
        },
        {
            "reason": "FieldValueForbidden",
            "field": "spec.size",
            "message": "Forbidden: size 12 is over 9",
        },
    ]
    # ``ratio`` is a number: an integer in JSON is a double in CEL, so ``< 1.0`` type-checks.
    await widgets.create_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", _widget(size=3, ratio=0, tags=["a", "b"])
    )


async def test_rule_evaluation_error_is_reported_with_the_rule(
    api: client.ApiClient, widgets: client.CustomObjectsApi
) -> None:
    await _install(api, _widget_crd(spec_rules=({"rule": "self.owner == 'me'"},)))
    error = await _refusal(
        widgets.create_namespaced_custom_object(
            "example.com", "v1", "default", "widgets", _widget(size=1)
        )
    )
    cause = error["details"]["causes"][0]
    assert cause["field"] == "spec"
    assert cause["message"].startswith('Invalid value: "object": ')
    assert cause["message"].endswith("evaluating rule: self.owner == 'me'")


async def test_unchanged_values_are_ratcheted_but_changes_are_checked(
    api: client.ApiClient, widgets: client.CustomObjectsApi
) -> None:
    await _install(api, _widget_crd())
    await widgets.create_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", _widget(size=50)
    )
    ext = client.ApiextensionsV1Api(api)
    crd = await ext.read_custom_resource_definition("widgets.example.com")
    crd = api.sanitize_for_serialization(crd)
    size = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    size["properties"]["size"]["x-kubernetes-validations"] = [{"rule": "self < 10"}]
    await ext.replace_custom_resource_definition("widgets.example.com", crd)
    await widgets.patch_namespaced_custom_object_status(
        "example.com",
        "v1",
        "default",
        "widgets",
        "w",
        {"status": {"seen": 1}},
        _content_type=MERGE,
    )
    await widgets.patch_namespaced_custom_object(
        "example.com",
        "v1",
        "default",
        "widgets",
        "w",
        {"spec": {"owner": "me"}},
        _content_type=MERGE,
    )
    error = await _refusal(
        widgets.patch_namespaced_custom_object(
            "example.com",
            "v1",
            "default",
            "widgets",
            "w",
            {"spec": {"size": 40}},
            _content_type=MERGE,
        )
    )
    assert error["details"]["causes"][0]["field"] == "spec.size"


async def test_a_crd_whose_rule_does_not_compile_is_refused(api: client.ApiClient) -> None:
    with pytest.raises(ApiException) as caught:
        await _install(api, _widget_crd({"rule": "self <"}))
    assert caught.value.status == 422
    cause = json.loads(caught.value.body)["details"]["causes"][0]
    assert cause["field"] == (
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[size]"
        ".x-kubernetes-validations[0].rule"
    )
    assert "compilation failed" in cause["message"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("[1, 2, 2].isSorted() && ![2, 1].isSorted()", True),
        ("[1, 2, 3].sum() == 6 && [1, 5, 3].max() == 5 && [4, 2].min() == 2", True),
        ("'a,b'.split(',') == ['a', 'b'] && ['a', 'b'].join('-') == 'a-b'", True),
        ("'AbC'.lowerAscii() == 'abc' && 'abc'.upperAscii() == 'ABC'", True),
        ("' x '.trim() == 'x' && 'aXa'.replace('X', 'b') == 'aba'", True),
        ("'abcb'.indexOf('b') == 1 && 'abcb'.lastIndexOf('b') == 3", True),
        ("[1, 2, 1].indexOf(1) == 0 && [1, 2, 1].lastIndexOf(1) == 2", True),
        ("'a1b22'.find('[0-9]+') == '1' && 'a1b22'.findAll('[0-9]+') == ['1', '22']", True),
    ],
)
def test_kubernetes_cel_library_functions(expression: str, expected: bool) -> None:
    assert evaluate(compile_expression(expression), {}) is expected


@pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl is not installed")
async def test_kubectl_apply_prints_the_rule_message_once_per_field(
    chart_kube: KubeEmulator, tmp_path: Path
) -> None:
    kubectl = Kubectl(chart_kube, tmp_path)
    bad = _body("bad", CASES["renewSeconds must be less than ttlSeconds/2"][1])
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    out = await kubectl("apply", "-f", str(tmp_path / "bad.json"), ok=False)
    line = (
        'spec.leaseClient.config.renewSeconds: Invalid value: "object": '
        "renewSeconds must be less than ttlSeconds/2"
    )
    assert line in out
    assert out.count("spec.leaseClient.config.renewSeconds") == 1
    assert chart_kube.store.get(GROUP, PLURAL, "default", "bad") is None


async def test_rules_are_not_run_when_the_schema_refuses_an_enum_or_type(
    chart_crs: client.CustomObjectsApi,
) -> None:
    # primaryRegion in hotStandbyRegions breaks a rule, but the rules are not run.
    body = _body("x", _set(hotStandbyRegions=["fsn"], leaseClient={"kind": "zookeeper"}))
    error = await _refusal(create_cr(chart_crs, body))
    assert [c["field"] for c in error["details"]["causes"]] == ["spec.leaseClient.kind", "<nil>"]
    assert error["message"].endswith(
        '<nil>: Invalid value: "null": some validation rules were not checked because the '
        "object was invalid; correct the existing errors to complete validation]"
    )
