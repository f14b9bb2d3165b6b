"""The :class:`~continuum.ports.AuditSink` other actors use, and the block that runs the
publisher behind it.

Callers hand events to :class:`AuditPublisherSink`. ``emit`` returns as soon as the event is
in the outbox; it never waits on NATS. It waits only when the outbox is full
(``outbox_limit`` events accepted and not yet stored): back-pressure, never a drop. The state
is visible (``status().full``, ``ready() is False``, one ``audit_outbox_full`` log line per
episode, ``blocked_emitters``).

``AuditDelivered``: :meth:`AuditPublisherSink.delivery_state` tells a ContinuumActor whether
its CR's events are delivered (nothing waiting longer than ``stale_after``, last attempt not
failed). Audit delivery never undoes a data-plane change; it only raises that condition.

Shutdown: :func:`run_audit_publisher` closes the sink, then asks the actor to flush within
``flush_timeout`` and logs / returns how many events stayed undelivered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import structlog

from continuum.actors.runtime import ActorDead, ActorRef, AskTimeout, run_actor
from continuum.audit.outbox import Pending
from continuum.audit.protocol import (
    AuditPublisherOptions,
    FlushAudit,
    PublishAudit,
)
from continuum.audit.publisher import AuditPublisher
from continuum.errors import AuditUnavailable, ContinuumError
from continuum.messages.audit import AuditAck, AuditDelivery, AuditEvent, AuditPublisherStatus
from continuum.ports import AuditTransport, Clock

__all__ = ["AuditPublisherSink", "run_audit_publisher"]

log = structlog.get_logger("continuum.audit")


class AuditPublisherSink:
    """:class:`~continuum.ports.AuditSink` in front of one :class:`AuditPublisher`."""

    def __init__(self, ref: ActorRef, publisher: AuditPublisher) -> None:
        self._ref = ref
        self._publisher = publisher
        self._gate = publisher.gate

    async def emit(self, event: AuditEvent) -> None:
        """Accept ``event``: returns once it is in the outbox, never waiting on NATS. Waits
        while the outbox is full (back-pressure; nothing is dropped). Raises
        :class:`AuditUnavailable` once the publisher is shut down."""
        await self._gate.acquire()
        try:
            await self._ref.tell(PublishAudit(event, gated=True))
        except ActorDead:
            self._gate.release()
            raise AuditUnavailable("audit publisher is not running") from None

    def try_emit(self, event: AuditEvent) -> bool:
        """Accept ``event`` without ever waiting; ``False`` (nothing accepted) when the
        outbox or the mailbox is full or the publisher is shut down."""
        if not self._gate.try_acquire():
            return False
        try:
            self._ref.tell_nowait(PublishAudit(event, gated=True))
        except ContinuumError:
            self._gate.release()
            return False
        return True

    def delivery_state(self, continuum: str) -> AuditDelivery:
        """Whether ``continuum``'s events are delivered: drives ``AuditDelivered``."""
        return self._publisher.delivery_state(continuum)

    def status(self) -> AuditPublisherStatus:
        """Backlog, readiness and counters (metrics and ``/healthz``)."""
        return self._publisher.status()

    def ready(self) -> bool:
        """``False`` while the outbox is full (emitters wait) or after shutdown."""
        return not self._gate.full and not self._gate.closed

    def close(self) -> None:
        """Refuse further events; waiting emitters raise :class:`AuditUnavailable`."""
        self._gate.close()


@asynccontextmanager
async def run_audit_publisher(
    transport: AuditTransport,
    *,
    clock: Clock,
    options: AuditPublisherOptions | None = None,
    on_stored: Callable[[Pending, AuditAck], None] | None = None,
    name: str = "audit-publisher",
) -> AsyncIterator[AuditPublisherSink]:
    """Run an :class:`AuditPublisher` for the block and yield its sink.

    On exit (shielded): the sink is closed, everything accepted is flushed within
    ``options.flush_timeout``, the undelivered count is logged (``audit_flushed``,
    ``audit_undelivered_at_shutdown``) and left in ``publisher.final_report``.
    """
    publisher = AuditPublisher(transport, options=options, on_stored=on_stored)
    flush = publisher.options.flush_timeout
    async with run_actor(publisher, clock=clock, name=name, shutdown_timeout=2 * flush + 1) as ref:
        sink = AuditPublisherSink(ref, publisher)
        try:
            yield sink
        finally:
            with anyio.CancelScope(shield=True):
                sink.close()
                if ref.alive:
                    try:
                        await ref.ask(FlushAudit(flush), timeout=flush + 1)
                    except (ActorDead, AskTimeout) as exc:
                        log.error("audit_flush_failed", error=str(exc))
