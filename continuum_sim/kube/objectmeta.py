"""ObjectMeta rules shared by every write: names, server-owned fields, generation, finalizers."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

import msgspec

from continuum_sim.kube.resources import ResourceType
from continuum_sim.kube.status import StatusError, bad_request, field_cause, invalid

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

SERVER_FIELDS = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
    "name",
    "namespace",
)


def clone(obj: Any) -> Any:
    """A deep copy of a JSON value (fast: one msgspec round trip)."""
    return msgspec.json.decode(msgspec.json.encode(obj))


def timestamp(now: datetime) -> str:
    """RFC 3339 UTC at second precision, as ``metav1.Time`` serialises."""
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def metadata_of(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj.metadata``, created empty when absent; 400 when it is not an object."""
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    return meta


def check_type(rt: ResourceType, body: Any) -> dict[str, Any]:
    """400 unless ``body`` is an object of ``rt``'s kind and apiVersion. Built-in kinds may
    omit both (typed clients do), custom resources may not."""
    if not isinstance(body, dict):
        raise bad_request("the body of the request must be a JSON object")
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if rt.custom and (not kind or not api_version):
        missing = "Kind" if not kind else "apiVersion"
        raise bad_request(f"Object '{missing}' is missing in the request body")
    if kind and kind != rt.kind:
        raise bad_request(f'the kind "{kind}" of the object does not match "{rt.kind}"')
    if api_version and api_version != rt.api_version:
        raise bad_request(
            f'the API version "{api_version}" of the object does not match "{rt.api_version}"'
        )
    body["kind"], body["apiVersion"] = rt.kind, rt.api_version
    return body


def assign_name(rt: ResourceType, meta: dict[str, Any]) -> str:
    """The object's name (generated from ``generateName`` when needed); 422 when invalid."""
    name = meta.get("name") or ""
    if not name and meta.get("generateName"):
        suffix = "".join(secrets.choice(_GENERATE_ALPHABET) for _ in range(5))
        name = f"{meta['generateName']}{suffix}"
        meta["name"] = name
    if not isinstance(name, str) or not name:
        raise invalid(
            kind=rt.kind,
            group=rt.group,
            name="",
            causes=[
                field_cause(
                    "metadata.name",
                    "Required value: name or generateName is required",
                    reason="FieldValueRequired",
                )
            ],
        )
    validate_name(rt, name)
    return name


def validate_name(rt: ResourceType, name: str) -> None:
    """422 unless ``name`` is a DNS-1123 subdomain (a DNS label for namespaces)."""
    pattern, limit = (_LABEL, 63) if rt.plural == "namespaces" else (_SUBDOMAIN, 253)
    if len(name) <= limit and pattern.match(name):
        return
    raise invalid(
        kind=rt.kind,
        group=rt.group,
        name=name,
        causes=[
            field_cause(
                "metadata.name",
                f'Invalid value: "{name}": a lowercase RFC 1123 '
                f"{'label' if limit == 63 else 'subdomain'} must consist of lower case "
                "alphanumeric characters, '-' or '.'",
            )
        ],
    )


def check_namespace(rt: ResourceType, meta: dict[str, Any], namespace: str | None) -> None:
    """Set ``metadata.namespace`` from the URL; 400 when the body names another one."""
    if not rt.namespaced:
        meta.pop("namespace", None)
        return
    given = meta.get("namespace")
    if given and given != namespace:
        raise bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    meta["namespace"] = namespace


def keep_server_fields(meta: dict[str, Any], old_meta: dict[str, Any]) -> None:
    """Copy the fields a client can never change from the stored object's metadata."""
    for key in SERVER_FIELDS:
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)


def spec_part(obj: dict[str, Any], rt: ResourceType) -> dict[str, Any]:
    """What ``metadata.generation`` tracks: everything but metadata (and status when it has
    its own subresource)."""
    skipped = (
        ("metadata", "status", "apiVersion")
        if rt.status_subresource
        else ("metadata", "apiVersion")
    )
    return {k: v for k, v in obj.items() if k not in skipped}


def mark_deleting(meta: dict[str, Any], now: datetime) -> None:
    """What the API server does to an object it cannot delete yet (finalizers remain): set
    ``deletionTimestamp`` and a zero grace period, and move ``generation`` on (when it has
    one) the first time, so a controller that acts on generation changes sees the deletion."""
    if not meta.get("deletionTimestamp") and int(meta.get("generation") or 0) > 0:
        meta["generation"] = int(meta["generation"]) + 1
    meta["deletionTimestamp"] = timestamp(now)
    meta["deletionGracePeriodSeconds"] = 0


def check_finalizers(rt: ResourceType, new_meta: dict[str, Any], old_meta: dict[str, Any]) -> None:
    """422 when finalizers are added to an object that is being deleted."""
    if not old_meta.get("deletionTimestamp"):
        return
    added = set(new_meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
    if added:
        raise invalid(
            kind=rt.kind,
            group=rt.group,
            name=str(old_meta.get("name", "")),
            causes=[
                field_cause(
                    "metadata.finalizers",
                    "Forbidden: no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers {sorted(added)!r}",
                    reason="FieldValueForbidden",
                )
            ],
        )


def require_resource_version(rt: ResourceType, meta: dict[str, Any]) -> str:
    """The body's ``metadata.resourceVersion``; 422 when absent (an update must be
    conditional in this emulator, stricter than the API server for some built-ins)."""
    rv = meta.get("resourceVersion")
    if rv:
        return str(rv)
    raise invalid(
        kind=rt.kind,
        group=rt.group,
        name=str(meta.get("name", "")),
        causes=[
            field_cause(
                "metadata.resourceVersion",
                "Invalid value: 0x0: must be specified for an update",
            )
        ],
    )


ANNOTATIONS_SIZE_LIMIT = 256 * 1024
"""The API server's limit on the total size of an object's annotations (keys + values)."""


def check_annotations(rt: ResourceType, meta: dict[str, Any]) -> None:
    """422 when the annotations' keys and values add up to more than 256 KiB (UTF-8)."""
    annotations = meta.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise bad_request("metadata.annotations must be an object of strings")
    total = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())
    if total > ANNOTATIONS_SIZE_LIMIT:
        raise invalid(
            kind=rt.kind,
            group=rt.group,
            name=str(meta.get("name", "")),
            causes=[
                field_cause(
                    "metadata.annotations",
                    f"Too long: must have at most {ANNOTATIONS_SIZE_LIMIT} bytes",
                    reason="FieldValueTooLong",
                )
            ],
        )


def check_preconditions(rt: ResourceType, old_meta: dict[str, Any], options: Any) -> None:
    """409 when ``DeleteOptions.preconditions`` (uid, resourceVersion) do not hold."""
    if not isinstance(options, dict):
        return
    pre = options.get("preconditions") or {}
    if not isinstance(pre, dict):
        raise bad_request("preconditions must be an object")
    for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        want = pre.get(key)
        if want and want != old_meta.get(key):
            raise StatusError(
                409,
                f"Precondition failed: {label} in precondition: {want}, {label} in object "
                f"meta: {old_meta.get(key)}",
                reason="Conflict",
                details={"name": old_meta.get("name", ""), "group": rt.group, "kind": rt.plural},
            )
