"""Render ``chart/crds/continuum.yaml`` from the msgspec Structs in ``continuum.messages``.

The CRD's schema is generated, never hand-edited, so it cannot drift from the parser:
``test_crd_drift_of_continuum.py`` fails when the committed file differs from the rendering.
Regenerate with::

    /work/venv/bin/python tests/messages/crd_render.py > chart/crds/continuum.yaml

What the Structs cannot express is declared here: CEL rules for the cross-field checks of
``validate_spec`` (each with the ``fieldPath`` that ``InvalidSpec.field`` names), list
semantics (``x-kubernetes-list-type``), printer columns and the CRD's identity.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import msgspec
import msgspec.inspect as mi
import yaml

from continuum.messages.crd import API_GROUP, KIND, PLURAL, ContinuumSpec
from continuum.messages.status import ContinuumStatus

HEADER = (
    "# GENERATED from continuum/messages/{crd,status}.py by tests/messages/crd_render.py.\n"
    "# Do not edit by hand: change the Structs, then run\n"
    "#   python tests/messages/crd_render.py > chart/crds/continuum.yaml\n"
)

#: (schema path, rule, fieldPath relative to that path, message). Each mirrors one rule of
#: ``validate_spec``; ``path + fieldPath`` is the field ``InvalidSpec`` names.
CEL_RULES: tuple[tuple[str, str, str, str], ...] = (
    (
        "spec.leaseClient.config",
        "self.renewSeconds * 2 < self.ttlSeconds",
        ".renewSeconds",
        "renewSeconds must be less than ttlSeconds/2",
    ),
    (
        "spec.leaseClient",
        "self.kind != 'cloudflare-kv' || (has(self.config) && has(self.config.baseURL))",
        ".config.baseURL",
        "config.baseURL is required for kind cloudflare-kv",
    ),
    (
        "spec.leaseClient",
        "self.kind != 'cloudflare-kv' || (has(self.config) && has(self.config.tokenSecretRef))",
        ".config.tokenSecretRef",
        "config.tokenSecretRef is required for kind cloudflare-kv",
    ),
    (
        "spec.leaseClient",
        "self.kind != 'dns-quorum' || (has(self.config) && has(self.config.resolvers))",
        ".config.resolvers",
        "config.resolvers is required for kind dns-quorum",
    ),
    (
        "spec.leaseClient",
        "self.kind != 'dns-quorum' || (has(self.config) && has(self.config.powerdnsAPIs)"
        " && has(self.config.resolvers)"
        " && size(self.config.powerdnsAPIs) == size(self.config.resolvers))",
        ".config.powerdnsAPIs",
        "config.powerdnsAPIs must list one PowerDNS API URL per resolver",
    ),
    (
        "spec",
        "!(self.primaryRegion in self.hotStandbyRegions)",
        ".hotStandbyRegions",
        "hotStandbyRegions must not contain the primaryRegion",
    ),
    (
        "spec",
        "!has(self.luaRecord) || (has(self.regions)"
        " && self.regions.exists(r, r.name == self.primaryRegion)"
        " && self.hotStandbyRegions.all(s, self.regions.exists(r, r.name == s)))",
        ".regions",
        "regions must list the primaryRegion and every hot standby when luaRecord is set",
    ),
    (
        "spec",
        "!has(self.switchover) || !has(self.switchover.targetRegion)"
        " || self.switchover.targetRegion == self.primaryRegion"
        " || self.switchover.targetRegion in self.hotStandbyRegions",
        ".switchover.targetRegion",
        "switchover.targetRegion must be the primaryRegion or a hot standby",
    ),
    (
        "spec",
        "!has(self.health) || !has(self.health.latencyProbe)"
        " || self.health.latencyProbe.urls.all(k, k == self.primaryRegion"
        " || k in self.hotStandbyRegions)",
        ".health.latencyProbe.urls",
        "health.latencyProbe.urls keys must be the primaryRegion or hot standbys",
    ),
    (
        "spec",
        "!has(self.replicationProbe)"
        " || self.replicationProbe.dsnSecretRefs.all(k, k == self.primaryRegion"
        " || k in self.hotStandbyRegions)",
        ".replicationProbe.dsnSecretRefs",
        "replicationProbe.dsnSecretRefs keys must be the primaryRegion or hot standbys",
    ),
    (
        "spec",
        "has(self.cnpgPair) || (has(self.switchover) && has(self.switchover.mechanism)"
        " && self.switchover.mechanism == 'stateless')",
        ".cnpgPair",
        "cnpgPair is required for switchover.mechanism cnpg-pair (the default)",
    ),
    (
        "spec",
        "!has(self.luaRecord) || has(self.pdmZone)",
        ".pdmZone",
        "pdmZone is required when luaRecord is set",
    ),
    (
        "spec",
        "!has(self.luaRecord) || !has(self.pdmZone) || self.luaRecord.hostnames.all(h,"
        " h == self.pdmZone || h.endsWith('.' + self.pdmZone))",
        ".luaRecord.hostnames",
        "luaRecord.hostnames must be inside pdmZone",
    ),
)

#: Schema path → extra keys (list semantics the API server enforces itself).
EXTRAS: dict[str, dict[str, Any]] = {
    "spec.hotStandbyRegions": {"x-kubernetes-list-type": "set"},
    "spec.luaRecord.hostnames": {"x-kubernetes-list-type": "set"},
    "spec.regions": {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    "status.conditions": {
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
    },
}

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Application", "type": "string", "jsonPath": ".spec.applicationRef"},
    {"name": "Primary", "type": "string", "jsonPath": ".status.actingPrimary"},
    {"name": "Lease", "type": "string", "jsonPath": ".status.leaseHolder"},
    {"name": "Lag", "type": "string", "jsonPath": ".status.maxReplicationLag"},
    {"name": "RTO", "type": "string", "jsonPath": ".spec.rto", "priority": 1},
    {"name": "RPO", "type": "string", "jsonPath": ".spec.rpo", "priority": 1},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def _describe(doc: str | None) -> str | None:
    if not doc:
        return None
    return inspect.cleandoc(doc)


def _schema(t: mi.Type, path: str) -> dict[str, Any]:
    description: str | None = None
    if isinstance(t, mi.Metadata):
        description = (t.extra_json_schema or {}).get("description")
        t = t.type
    out: dict[str, Any] = {}
    if description:
        out["description"] = description
    if isinstance(t, mi.UnionType):
        others = [u for u in t.types if not isinstance(u, mi.NoneType)]
        if len(others) != 1:
            raise TypeError(f"{path}: only `X | None` unions are supported")
        inner = _schema(others[0], path)
        return {**inner, **out}
    if isinstance(t, mi.StructType):
        out.update(_struct_schema(t, path))
    elif isinstance(t, mi.StrType):
        out["type"] = "string"
        _put(out, minLength=t.min_length, maxLength=t.max_length, pattern=t.pattern)
    elif isinstance(t, mi.IntType):
        out["type"] = "integer"
        _put(out, minimum=t.ge, maximum=t.le)
        if t.gt is not None or t.lt is not None:
            raise TypeError(f"{path}: use ge/le, not gt/lt")
    elif isinstance(t, mi.FloatType):
        out["type"] = "number"
        _put(out, minimum=t.ge, maximum=t.le)
    elif isinstance(t, mi.BoolType):
        out["type"] = "boolean"
    elif isinstance(t, mi.DateTimeType):
        out["type"] = "string"
        out["format"] = "date-time"
    elif isinstance(t, mi.LiteralType):
        out["type"] = "string"
        out["enum"] = list(t.values)
    elif isinstance(t, mi.EnumType):
        out["type"] = "string"
        out["enum"] = [member.value for member in t.cls]
    elif isinstance(t, mi.ListType | mi.VarTupleType):
        out["type"] = "array"
        out["items"] = _schema(t.item_type, path + "[]")
        _put(out, minItems=t.min_length, maxItems=t.max_length)
    elif isinstance(t, mi.DictType):
        out["type"] = "object"
        out["additionalProperties"] = _schema(t.value_type, path + "{}")
        _put(out, minProperties=t.min_length, maxProperties=t.max_length)
    else:
        raise TypeError(f"{path}: unsupported type {t!r}")
    out.update(EXTRAS.get(path, {}))
    rules = [
        {"rule": rule, "fieldPath": field_path, "message": message}
        for at, rule, field_path, message in CEL_RULES
        if at == path
    ]
    if rules:
        out["x-kubernetes-validations"] = rules
    return out


def _put(out: dict[str, Any], **values: Any) -> None:
    for key, value in values.items():
        if value is not None:
            out[key] = value


def _struct_schema(t: mi.StructType, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object"}
    doc = _describe(t.cls.__doc__)
    if doc:
        out["description"] = doc
    props: dict[str, Any] = {}
    required: list[str] = []
    for field in t.fields:
        sub = _schema(field.type, f"{path}.{field.encode_name}")
        default = _default(field)
        if default is not None:
            sub["default"] = default
        props[field.encode_name] = sub
        if field.required:
            required.append(field.encode_name)
    out["properties"] = props
    if required:
        out["required"] = required
    return out


def _default(field: mi.Field) -> Any:
    """The CRD default of a field: its Struct default; ``{}`` for nested-Struct defaults."""
    if field.default is not msgspec.NODEFAULT and field.default is not None:
        return msgspec.to_builtins(field.default)
    if field.default_factory is not msgspec.NODEFAULT:
        value = field.default_factory()
        if isinstance(value, msgspec.Struct):
            return {}
    return None


def render_schema() -> dict[str, Any]:
    """The ``openAPIV3Schema`` of the Continuum CRD."""
    return {
        "type": "object",
        "description": "Continuum keeps exactly one writer region for an active-hotstandby "
        "application and moves that role safely (previewable, audited, verified).",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": _schema(mi.type_info(ContinuumSpec), "spec"),
            "status": _schema(mi.type_info(ContinuumStatus), "status"),
        },
    }


def render_crd() -> dict[str, Any]:
    """The whole CustomResourceDefinition object."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{API_GROUP}",
            "labels": {
                "app.kubernetes.io/name": "catalyst",
                "app.kubernetes.io/component": "continuum",
            },
        },
        "spec": {
            "group": API_GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": "continuum",
                "shortNames": ["dr"],
                "categories": ["catalyst", "openova"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {"openAPIV3Schema": render_schema()},
                }
            ],
        },
    }


def render_yaml() -> str:
    """The file content of ``chart/crds/continuum.yaml``."""
    body = yaml.safe_dump(render_crd(), sort_keys=False, width=100, allow_unicode=True)
    return HEADER + body


if __name__ == "__main__":
    sys.stdout.write(render_yaml())
