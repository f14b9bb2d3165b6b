"""``coordination.k8s.io/v1`` Leases with optimistic concurrency (leader election, and the
single-cluster ``k8s-lease`` witness).

:class:`KubeLeases` reads, creates and conditionally replaces Leases; every write carries a
``resourceVersion`` precondition, so of two writers racing from the same read exactly one
wins and the other gets :class:`~continuum.errors.Conflict`. A replace is a JSON merge patch
of ``spec`` and of the annotations/labels given: fields and annotations this module does not
know (owner references, finalizers, other tools' annotations) survive (gap 36).
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from continuum.adapters.kube import RegionClient
from continuum.errors import Invalid

MAX_NAME: Final = 253
_INVALID = re.compile(r"[^a-z0-9.-]+")


class LeaseObject(msgspec.Struct, frozen=True, kw_only=True):
    """A Lease as stored. ``resource_version`` is empty for one not yet created.

    Times are UTC (``MicroTime`` on the wire); ``holder == ""`` means nobody holds it.
    """

    name: str
    namespace: str
    holder: str = ""
    lease_duration_seconds: int | None = None
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    lease_transitions: int = 0
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    resource_version: str = ""


def lease_object_name(key: str, *, prefix: str = "continuum-") -> str:
    """A valid, collision-free Lease name for a witness slot ``<ns>/<name>``: the key
    made DNS-safe, truncated, and suffixed with 8 hex of its SHA-256 (so ``a/b-c`` and
    ``a-b/c`` never share a Lease; gap 36). At most 253 characters."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    readable = _INVALID.sub("-", key.lower()).strip("-.")
    room = MAX_NAME - len(prefix) - len(digest) - 1
    readable = readable[:room].rstrip("-.")
    return f"{prefix}{readable}-{digest}" if readable else f"{prefix}{digest}"


def _micro(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def from_raw(obj: dict[str, Any]) -> LeaseObject:
    """A :class:`LeaseObject` from a raw Lease."""
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    return LeaseObject(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        holder=str(spec.get("holderIdentity") or ""),
        lease_duration_seconds=int(duration) if duration is not None else None,
        acquire_time=_parse_time(spec.get("acquireTime")),
        renew_time=_parse_time(spec.get("renewTime")),
        lease_transitions=int(spec.get("leaseTransitions") or 0),
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        resource_version=str(meta.get("resourceVersion", "")),
    )


def _spec(lease: LeaseObject) -> dict[str, Any]:
    return {
        "holderIdentity": lease.holder or None,
        "leaseDurationSeconds": lease.lease_duration_seconds,
        "acquireTime": _micro(lease.acquire_time),
        "renewTime": _micro(lease.renew_time),
        "leaseTransitions": lease.lease_transitions,
    }


class KubeLeases:
    """Leases in one region's API (``client``)."""

    def __init__(self, client: RegionClient) -> None:
        self.client = client

    async def get(self, namespace: str, name: str) -> LeaseObject:
        """The Lease. Raises ``NotFound`` when it does not exist."""
        obj = await self.client.call(
            self.client.coordination.read_namespaced_lease,
            name,
            namespace,
            what=f"get lease {namespace}/{name}",
        )
        return from_raw(obj)

    async def create(self, lease: LeaseObject) -> LeaseObject:
        """Create ``lease``. Raises ``Conflict`` when it already exists."""
        spec = {k: v for k, v in _spec(lease).items() if v is not None}
        meta: dict[str, Any] = {"name": lease.name, "namespace": lease.namespace}
        if lease.labels:
            meta["labels"] = lease.labels
        if lease.annotations:
            meta["annotations"] = lease.annotations
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": spec,
        }
        obj = await self.client.call(
            self.client.coordination.create_namespaced_lease,
            lease.namespace,
            body,
            what=f"create lease {lease.namespace}/{lease.name}",
        )
        return from_raw(obj)

    async def replace(self, lease: LeaseObject) -> LeaseObject:
        """Write ``lease``'s spec, labels and annotations if the stored Lease is still at
        ``lease.resource_version``. Raises ``Conflict`` when it changed since (re-read and
        decide again), ``Invalid`` when ``lease`` carries no resourceVersion. Annotations
        and labels not named in ``lease`` are kept."""
        if not lease.resource_version:
            raise Invalid(
                f"replace lease {lease.namespace}/{lease.name}: no resourceVersion (read it first)",
                region=self.client.region,
            )
        meta: dict[str, Any] = {"resourceVersion": lease.resource_version}
        if lease.labels:
            meta["labels"] = lease.labels
        if lease.annotations:
            meta["annotations"] = lease.annotations
        obj = await self.client.call(
            self.client.coordination.patch_namespaced_lease,
            lease.name,
            lease.namespace,
            {"metadata": meta, "spec": _spec(lease)},
            _content_type="application/merge-patch+json",
            what=f"replace lease {lease.namespace}/{lease.name}",
        )
        return from_raw(obj)
