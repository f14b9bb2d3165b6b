"""A minimal OpenAPI v3 endpoint (``/openapi/v3`` and one document per group/version).

kubectl checks it before ``create``/``apply``: when the PATCH operation of a kind declares
the ``fieldValidation`` query parameter, kubectl leaves validation to the server (and sends
``fieldValidation=Strict``) instead of downloading schemas for client-side validation.
Custom resources also publish their CRD schema under ``components.schemas``, which is what
``kubectl explain`` reads. Built-in kinds publish no schema, so kubectl uses its compiled-in
types for strategic merge patches.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from continuum_sim.kube.crds import Registry
from continuum_sim.kube.resources import ResourceType

_QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")


def _gv_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _schema_name(rt: ResourceType) -> str:
    reversed_group = ".".join(reversed(rt.group.split("."))) if rt.group else "io.k8s.api.core"
    return f"{reversed_group}.{rt.version}.{rt.kind}"


def _paths(rt: ResourceType) -> dict[str, Any]:
    prefix = f"/{_gv_key(rt.group, rt.version)}"
    base = (
        f"{prefix}/namespaces/{{namespace}}/{rt.plural}"
        if rt.namespaced
        else f"{prefix}/{rt.plural}"
    )
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    params = [{"name": n, "in": "query", "schema": {"type": "string"}} for n in _QUERY_PARAMS]
    ok = {"200": {"description": "OK"}}

    def op(action: str, verb: str) -> dict[str, Any]:
        return {
            "operationId": f"{verb}{rt.kind}",
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": gvk,
            "parameters": params,
            "responses": ok,
        }

    item = {"get": op("get", "read"), "put": op("put", "replace"), "patch": op("patch", "patch")}
    collection = {"get": op("list", "list"), "post": op("post", "create")}
    paths = {base: collection, f"{base}/{{name}}": item}
    if rt.status_subresource:
        paths[f"{base}/{{name}}/status"] = {
            "get": op("get", "read"),
            "put": op("put", "replace"),
            "patch": op("patch", "patch"),
        }
    return paths


def group_version_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of one served group/version, or ``None``."""
    types = registry.resources(group, version)
    if not types:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for rt in types:
        paths.update(_paths(rt))
        if rt.schema is not None:
            schema = dict(rt.schema.source)
            schema["x-kubernetes-group-version-kind"] = [
                {"group": rt.group, "version": rt.version, "kind": rt.kind}
            ]
            schemas[_schema_name(rt)] = schema
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def root_document(registry: Registry) -> dict[str, Any]:
    """``GET /openapi/v3``: where each group/version's document lives (with a content hash,
    so clients re-fetch after a CRD changes)."""
    keys = {("", "v1")} | {(g, v) for g, versions in registry.groups().items() for v in versions}
    paths: dict[str, Any] = {}
    for group, version in sorted(keys):
        doc = group_version_document(registry, group, version)
        digest = hashlib.sha256(msgspec.json.encode(doc)).hexdigest()[:32].upper()
        key = _gv_key(group, version)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}
