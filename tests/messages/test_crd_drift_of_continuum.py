"""The committed CRD and the msgspec Structs describe the same object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import yaml
from crd_render import CEL_RULES, render_yaml

from continuum.messages.crd import ContinuumSpec
from continuum.messages.status import ContinuumStatus

ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = ROOT / "chart" / "crds" / "continuum.yaml"
CRD = yaml.safe_load(CRD_PATH.read_text())
VERSION = CRD["spec"]["versions"][0]
SCHEMA = VERSION["schema"]["openAPIV3Schema"]


def _unwrap(t: mi.Type) -> mi.Type:
    while True:
        if isinstance(t, mi.Metadata):
            t = t.type
        elif isinstance(t, mi.UnionType):
            (t,) = [u for u in t.types if not isinstance(u, mi.NoneType)]
        else:
            return t


def _walk(t: mi.Type, schema: dict[str, Any], path: str, seen: list[str]) -> None:
    t = _unwrap(t)
    seen.append(path)
    if isinstance(t, mi.StructType):
        assert schema["type"] == "object", path
        props = schema.get("properties", {})
        names = {f.encode_name for f in t.fields}
        assert set(props) == names, f"{path}: CRD {sorted(props)} vs Struct {sorted(names)}"
        required = {f.encode_name for f in t.fields if f.required}
        assert set(schema.get("required", [])) == required, path
        for f in t.fields:
            _walk(f.type, props[f.encode_name], f"{path}.{f.encode_name}", seen)
    elif isinstance(t, mi.LiteralType):
        assert schema.get("enum") == list(t.values), path
    elif isinstance(t, mi.ListType):
        assert schema["type"] == "array", path
        _walk(t.item_type, schema["items"], path + "[]", seen)
    elif isinstance(t, mi.DictType):
        assert schema["type"] == "object", path
        _walk(t.value_type, schema["additionalProperties"], path + "{}", seen)
    elif isinstance(t, mi.StrType | mi.DateTimeType):
        assert schema["type"] == "string", path
        if isinstance(t, mi.StrType):
            assert schema.get("pattern") == t.pattern, path
            assert schema.get("maxLength") == t.max_length, path
    elif isinstance(t, mi.IntType):
        assert schema["type"] == "integer", path
        assert (schema.get("minimum"), schema.get("maximum")) == (t.ge, t.le), path
    elif isinstance(t, mi.BoolType):
        assert schema["type"] == "boolean", path
    elif isinstance(t, mi.FloatType):
        assert schema["type"] == "number", path


def test_committed_crd_is_exactly_the_rendering_of_the_structs() -> None:
    assert CRD_PATH.read_text() == render_yaml(), (
        "chart/crds/continuum.yaml is stale: python tests/messages/crd_render.py > "
        "chart/crds/continuum.yaml"
    )


def test_spec_schema_matches_struct_names_requiredness_enums_and_constraints() -> None:
    seen: list[str] = []
    _walk(mi.type_info(ContinuumSpec), SCHEMA["properties"]["spec"], "spec", seen)
    assert "spec.leaseClient.config.ttlSeconds" in seen
    assert len(seen) > 60


def test_status_schema_matches_struct_names_requiredness_enums_and_constraints() -> None:
    seen: list[str] = []
    _walk(mi.type_info(ContinuumStatus), SCHEMA["properties"]["status"], "status", seen)
    assert "status.switchover.completedSteps[]" in seen


def test_struct_defaults_are_the_crd_defaults() -> None:
    config = SCHEMA["properties"]["spec"]["properties"]["leaseClient"]["properties"]["config"]
    assert config["properties"]["ttlSeconds"]["default"] == 30
    assert config["properties"]["renewSeconds"]["default"] == 10
    switchover = SCHEMA["properties"]["spec"]["properties"]["switchover"]
    assert switchover["default"] == {}
    assert switchover["properties"]["mechanism"]["default"] == "cnpg-pair"
    assert switchover["properties"]["drainSeconds"]["default"] == 10
    assert switchover["properties"]["cnpgMode"]["default"] == "distributed"
    spec = msgspec.convert(
        {
            "applicationRef": "a",
            "primaryRegion": "x",
            "hotStandbyRegions": ["y"],
            "leaseClient": {"kind": "in-memory"},
        },
        ContinuumSpec,
    )
    assert spec.switchover.drain_seconds == 10
    assert spec.lease_client.config.ttl_seconds == 30


def test_crd_identity_matches_the_spec() -> None:
    assert CRD["metadata"]["name"] == "continuums.dr.openova.io"
    names = CRD["spec"]["names"]
    assert names == {
        "kind": "Continuum",
        "listKind": "ContinuumList",
        "plural": "continuums",
        "singular": "continuum",
        "shortNames": ["dr"],
        "categories": ["catalyst", "openova"],
    }
    assert CRD["spec"]["scope"] == "Namespaced"
    assert [v["name"] for v in CRD["spec"]["versions"]] == ["v1"]
    assert VERSION["served"] is True
    assert VERSION["storage"] is True
    assert VERSION["subresources"] == {"status": {}}


def test_printer_columns_point_at_fields_the_controller_writes() -> None:
    columns = {c["name"]: c["jsonPath"] for c in VERSION["additionalPrinterColumns"]}
    assert columns["Primary"] == ".status.actingPrimary"
    assert columns["Lease"] == ".status.leaseHolder"
    assert columns["Lag"] == ".status.maxReplicationLag"
    assert columns["Phase"] == ".status.phase"
    assert columns["Age"] == ".metadata.creationTimestamp"
    status = SCHEMA["properties"]["status"]["properties"]
    for path in columns.values():
        section, _, field = path.lstrip(".").partition(".")
        if section == "status":
            assert field in status


def test_spec_does_not_preserve_unknown_fields() -> None:
    text = CRD_PATH.read_text()
    assert "x-kubernetes-preserve-unknown-fields" not in text


def test_lease_kinds_and_mechanisms_are_exactly_the_supported_ones() -> None:
    spec = SCHEMA["properties"]["spec"]["properties"]
    assert set(spec["leaseClient"]["properties"]["kind"]["enum"]) == {
        "in-memory",
        "k8s-lease",
        "nats-kv",
        "cloudflare-kv",
        "dns-quorum",
    }
    assert spec["switchover"]["properties"]["mechanism"]["enum"] == ["cnpg-pair", "stateless"]


def test_every_cel_rule_names_a_field_that_exists_in_the_schema() -> None:
    for at, _rule, field_path, _message in CEL_RULES:
        node = SCHEMA
        for part in (at + field_path).split("."):
            node = node["properties"][part]
        assert node["type"] in ("object", "array", "string", "integer")
