"""Audit types (canonical, index-pinned order) and the audit event envelope.

The order of :data:`AUDIT_TYPES` is a contract with subscribers that pin indexes: the nine
K-Cont-2 types first, then the three of slice F-1. New types are appended, never inserted.
"""

from __future__ import annotations

import enum
import hashlib
from datetime import UTC, datetime

import msgspec


class AuditType(enum.StrEnum):
    """The audit types, in canonical order (index is significant; append-only)."""

    SWITCHOVER = "continuum-switchover"
    FAILBACK_PENDING = "continuum-failback-pending"
    FAILBACK_COMPLETED = "continuum-failback-completed"
    LEASE_LOST = "continuum-lease-lost"
    LEASE_ACQUIRED = "continuum-lease-acquired"
    CNPG_LAG_BREACH = "continuum-cnpg-lag-breach"
    CNPG_PROMOTABLE = "continuum-cnpg-promotable"
    ERROR = "continuum-error"
    RECONCILE_SUCCESS = "continuum-reconcile-success"
    CR_CREATED = "continuum-cr-created"
    CONFIG_CHANGED = "continuum-config-changed"
    LEASE_COLLISION = "continuum-lease-collision"


AUDIT_TYPES: tuple[AuditType, ...] = tuple(AuditType)


def format_timestamp(moment: datetime) -> str:
    """UTC RFC 3339 with up to 9 fractional digits, trailing zeros trimmed."""
    moment = moment.astimezone(UTC)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        base += "." + f"{moment.microsecond:06d}".rstrip("0")
    return base + "Z"


class AuditEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The envelope published to JetStream (compact JSON, camelCase).

    ``eventId`` is deterministic for one occurrence (see :func:`event_id`), so a retried
    publish is the same event and JetStream de-duplicates it through ``Nats-Msg-Id``.
    ``epoch`` is the lease generation the event was produced under.
    """

    type: AuditType
    continuumName: str
    timestamp: str
    eventId: str
    applicationName: str = ""
    fromPrimary: str = ""
    toPrimary: str = ""
    lagSeconds: int = 0
    step: str = ""
    reason: str = ""
    message: str = ""
    initiatedBy: str = ""
    epoch: int = 0
    region: str = ""
    occurredAt: str = ""

    def __post_init__(self) -> None:
        if not self.continuumName:
            raise msgspec.ValidationError("continuumName is required")
        if not self.timestamp:
            raise msgspec.ValidationError("timestamp is required")
        if not self.eventId:
            raise msgspec.ValidationError("eventId is required")


def event_id(*parts: object) -> str:
    """A deterministic id for one logical occurrence: the same parts give the same id.

    Callers pass what identifies the occurrence (type, CR, switchover id, step, epoch, …),
    never a retry counter or a publish time.
    """
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return digest[:32]


def new_event(
    type: AuditType,
    *,
    continuum: str,
    occurred_at: datetime,
    identity: tuple[object, ...] = (),
    **fields: object,
) -> AuditEvent:
    """Build an :class:`AuditEvent` whose id derives from ``type``, ``continuum`` and
    ``identity`` (defaulting to the occurrence time)."""
    stamp = format_timestamp(occurred_at)
    ident = identity if identity else (stamp,)
    return AuditEvent(
        type=type,
        continuumName=continuum,
        timestamp=stamp,
        occurredAt=stamp,
        eventId=event_id(type.value, continuum, *ident),
        **fields,  # type: ignore[arg-type]
    )


def encode_event(event: AuditEvent) -> bytes:
    """Compact JSON bytes of the envelope."""
    return msgspec.json.encode(event)


def decode_event(data: bytes) -> AuditEvent:
    """Decode and validate; raises ``msgspec.ValidationError`` naming the bad field."""
    return msgspec.json.decode(data, type=AuditEvent)
