"""What an :class:`~continuum.audit.publisher.AuditPublisher` is driven by: its options,
the messages its callers send it, and the error that stops it. The transport under it is the
port :class:`~continuum.ports.AuditTransport`.
"""

from __future__ import annotations

import msgspec

from continuum.config import DEFAULTS
from continuum.errors import ContinuumError
from continuum.messages.audit import AuditEvent

__all__ = [
    "AuditConfigurationError",
    "AuditPublisherOptions",
    "FlushAudit",
    "PublishAudit",
]


class AuditPublisherOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Tuning of the publisher; every duration is seconds of the injected clock."""

    outbox_limit: int = DEFAULTS.audit_outbox_limit
    """Events accepted and not yet stored; past it ``emit`` waits (back-pressure)."""
    max_in_flight: int = 512
    """Unacknowledged publishes at once (at most one per CR)."""
    ack_timeout: float = 5.0
    """A publish without ack after this long is failed and retried."""
    tick: float = 0.25
    """Period of the housekeeping tick (timeouts, reconnects, resume after backoff)."""
    backoff_initial: float = 0.1
    backoff_max: float = 5.0
    stale_after: float = 30.0
    """A CR's event pending longer than this makes its delivery state ``delivered=False``."""
    flush_timeout: float = 5.0
    """Bound of the shutdown flush."""
    restart_intensity: int = 5
    """Crashes of the publisher within ``restart_period`` it is restarted after (its outbox
    intact); one more escalates (the process exits and Kubernetes restarts it)."""
    restart_period: float = 30.0


class PublishAudit(msgspec.Struct, frozen=True):
    """Accept ``event`` for delivery (sent by :class:`AuditPublisherSink`)."""

    event: AuditEvent
    gated: bool = False
    record: str = ""


class FlushAudit(msgspec.Struct, frozen=True):
    """Ask: deliver everything accepted so far within ``timeout``; answers
    :class:`AuditFlushReport`. Blocks the actor while it runs (meant for shutdown)."""

    timeout: float


class AuditConfigurationError(ContinuumError):
    """The audit stream cannot be used as configured; the publisher stops."""
