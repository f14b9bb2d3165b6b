"""The ``coordination.k8s.io/v1`` Lease on the wire, shared by everything that reads or
writes one: the leader election's Lease and the ``k8s-lease`` witness's slot objects.

Shapes only (msgspec Structs and the MicroTime format); the calls live with their callers.
``metadata`` is kept as the server sent it, so a replace keeps labels, annotations, owner
references and the ``resourceVersion`` its compare-and-set needs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

__all__ = ["LeaseObject", "LeaseRecord", "micro_time", "parse_micro_time"]


class LeaseRecord(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """``spec`` of a coordination Lease."""

    holder_identity: str | None = None
    lease_duration_seconds: int | None = None
    acquire_time: str | None = None
    renew_time: str | None = None
    lease_transitions: int | None = None


class LeaseObject(msgspec.Struct, kw_only=True, rename="camel"):
    """A whole Lease as read or written."""

    api_version: str = "coordination.k8s.io/v1"
    kind: str = "Lease"
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    spec: LeaseRecord = msgspec.field(default_factory=LeaseRecord)


def micro_time(moment: datetime) -> str:
    """``moment`` (aware) as a Kubernetes MicroTime string in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(text: str | None) -> datetime | None:
    """A MicroTime (or RFC 3339) string as an aware UTC datetime; ``None`` for absent or
    empty. Raises ``ValueError`` for anything else."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
