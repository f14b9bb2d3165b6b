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


def parse_timestamp(text: str) -> datetime | None:
    """The UTC instant of an RFC 3339 timestamp (``Z`` or an offset, up to 9 fractional
    digits; digits past microseconds are truncated), or ``None`` when ``text`` is not one."""
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


class AuditEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The envelope published to JetStream (compact JSON, camelCase).

    Fields are declared in the reference's JSON order (``type`` … ``timestamp``), then the
    additions (``eventId``, ``epoch``, ``region``, ``occurredAt``); empty optional fields are
    omitted. ``eventId`` is deterministic for one occurrence (see :func:`event_id`), so a
    retried publish is the same event and JetStream de-duplicates it through
    ``Nats-Msg-Id``. ``epoch`` is the lease generation the event was produced under.

    Construction and decoding both validate: ``type`` must be an :class:`AuditType`,
    ``continuumName``, ``timestamp`` and ``eventId`` must be non-empty
    (``msgspec.ValidationError`` otherwise). ``timestamp`` is kept verbatim.
    """

    type: AuditType
    continuumName: str
    applicationName: str = ""
    fromPrimary: str = ""
    toPrimary: str = ""
    lagSeconds: int = 0
    step: str = ""
    reason: str = ""
    message: str = ""
    initiatedBy: str = ""
    timestamp: str
    eventId: str
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
    applicationName: str = "",
    fromPrimary: str = "",
    toPrimary: str = "",
    lagSeconds: int = 0,
    step: str = "",
    reason: str = "",
    message: str = "",
    initiatedBy: str = "",
    epoch: int = 0,
    region: str = "",
) -> AuditEvent:
    """Build an :class:`AuditEvent` stamped with ``occurred_at`` (``timestamp`` and
    ``occurredAt``), whose id derives from ``type``, ``continuum`` and ``identity``.

    ``identity`` names the occurrence (switchover id and step, fingerprint, epoch, …); when
    empty the occurrence time stands in, so two calls for the same instant give the same id.
    Raises ``msgspec.ValidationError`` for an empty ``continuum``.
    """
    stamp = format_timestamp(occurred_at)
    ident = identity if identity else (stamp,)
    return AuditEvent(
        type=type,
        continuumName=continuum,
        applicationName=applicationName,
        fromPrimary=fromPrimary,
        toPrimary=toPrimary,
        lagSeconds=lagSeconds,
        step=step,
        reason=reason,
        message=message,
        initiatedBy=initiatedBy,
        timestamp=stamp,
        eventId=event_id(type.value, continuum, *ident),
        epoch=epoch,
        region=region,
        occurredAt=stamp,
    )


HEADER_AUDIT_TYPE = "audit-type"
HEADER_CONTINUUM_NAME = "continuum-name"
HEADER_APPLICATION_NAME = "application-name"
HEADER_MSG_ID = "Nats-Msg-Id"


def audit_headers(event: AuditEvent) -> dict[str, str]:
    """The message headers of ``event``: subscribers filter on ``audit-type`` (prefix
    ``continuum-``) without decoding bodies; ``Nats-Msg-Id`` (= ``eventId``) lets the
    server drop a retried copy inside the stream's duplicate window."""
    return {
        HEADER_AUDIT_TYPE: event.type.value,
        HEADER_CONTINUUM_NAME: event.continuumName,
        HEADER_APPLICATION_NAME: event.applicationName,
        HEADER_MSG_ID: event.eventId,
    }


def encode_event(event: AuditEvent) -> bytes:
    """Compact JSON bytes of the envelope."""
    return msgspec.json.encode(event)


def decode_event(data: bytes) -> AuditEvent:
    """Decode and validate; raises ``msgspec.ValidationError`` naming the bad field."""
    return msgspec.json.decode(data, type=AuditEvent)


# --- publisher replies -----------------------------------------------------------------


class AuditAck(msgspec.Struct, frozen=True, kw_only=True):
    """JetStream stored the event: its stream sequence, and whether this publish was a
    duplicate of an already stored one (same ``Nats-Msg-Id`` within the window)."""

    seq: int
    duplicate: bool = False


class AuditDelivery(msgspec.Struct, frozen=True, kw_only=True):
    """Delivery state of one CR's audit events: what the ``AuditDelivered`` condition shows.

    ``delivered`` is ``True`` when none of the CR's events has been waiting longer than the
    publisher's ``stale_after`` and the last attempt for it did not fail; ``pending`` counts
    the CR's events accepted but not yet stored.
    """

    continuum: str
    delivered: bool
    reason: str = "Delivered"
    """``Delivered``, ``Pending`` (waiting or failing to reach JetStream) or ``OutboxFull``
    (emitters wait: back-pressure)."""
    pending: int = 0
    oldest_pending_seconds: float = 0.0
    last_error: str = ""
    last_stored_event_id: str = ""


class AuditPublisherStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The publisher at a glance (metrics, readiness, logs).

    ``outbox`` counts events accepted and not yet stored (including ``in_flight``);
    ``full`` means ``emit`` now waits (back-pressure) and ``ready`` is then ``False``;
    ``blocked_emitters`` are callers waiting for room.
    """

    connected: bool
    ready: bool
    full: bool
    outbox: int
    outbox_limit: int
    in_flight: int
    blocked_emitters: int
    stored: int
    duplicates: int
    failures: int
    oldest_pending_seconds: float
    last_error: str = ""
    coalesced: int = 0
    """``reconcile-success`` heartbeats coalesced while the outbox was full."""
    durable: bool = False
    """Accepted events are in a durable store (they survive a SIGKILL)."""
    records_pending: int = 0
    """Durable outbox records not yet deleted."""
    records_written: int = 0
    """Durable outbox records written since the process started (one per group commit)."""
    store_failing: bool = False
    """The durable store refuses writes or reads (emitters wait meanwhile)."""


class AuditFlushReport(msgspec.Struct, frozen=True, kw_only=True):
    """Outcome of a bounded flush: events stored during it, and those still undelivered."""

    delivered: int
    undelivered: int


class OutboxRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One durable batch of accepted events, in acceptance order.

    ``order`` sorts records across incarnations: ``(accepted_at_ns, seq)``; a record
    written later by the same incarnation always has a larger ``seq``."""

    name: str
    group: str
    """Deletion group: records are deleted a group at a time, once all are settled."""
    accepted_at_ns: int
    seq: int
    events: tuple[AuditEvent, ...]

    @property
    def order(self) -> tuple[int, int, str]:
        return (self.accepted_at_ns, self.seq, self.name)
