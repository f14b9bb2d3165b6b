"""The :class:`~continuum.ports.AuditSink` other actors use, and the block that runs the
publisher behind it.

Callers hand events to :class:`AuditPublisherSink`. ``emit`` returns once the event is
*accepted*: written to the durable outbox store (when there is one) and in the publisher's
outbox; it never waits on NATS. It waits while the outbox is full (``outbox_limit`` events
accepted and not yet stored) and while the durable store refuses writes: back-pressure on the
emitting actor, never a drop. The one exception is ``continuum-reconcile-success``, a
heartbeat, which is coalesced (not accepted, counted) while the outbox is full. The state is
visible (``status().full``, ``ready() is False``, one ``audit_outbox_full`` log line per
episode, ``blocked_emitters``, the ``AuditDelivered`` condition, the metrics).

The publisher runs under its own one_for_one supervisor (restart budget
``restart_intensity`` / ``restart_period``): a crashed incarnation is replaced by a new one
with the same outbox, gate and durable outbox; past the budget the block raises
:class:`~continuum.supervisor.SupervisorEscalation`-like ``AuditPublisherEscalation``.

``AuditDelivered``: :meth:`AuditPublisherSink.delivery_state` tells a ContinuumActor whether
its CR's events are delivered (nothing waiting longer than ``stale_after``, last attempt not
failed). Audit delivery never undoes a data-plane change; it only raises that condition.

Shutdown: :func:`run_audit_publisher` closes the sink, then asks the actor to flush within
``flush_timeout``; what stays undelivered stays in the durable store for the next start.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import structlog

from continuum import metrics
from continuum.actors.cell import ActorCell
from continuum.actors.host import ActorHost
from continuum.actors.mailbox import describe
from continuum.actors.runtime import ActorDead, ActorRef, AskTimeout
from continuum.audit.durable import DurableOutbox
from continuum.audit.gate import EmitGate
from continuum.audit.outbox import AuditCounters, AuditOutbox, Pending
from continuum.audit.protocol import (
    AuditPublisherOptions,
    FlushAudit,
    PublishAudit,
)
from continuum.audit.publisher import AuditPublisher
from continuum.audit.store import OutboxStore
from continuum.errors import ContinuumError
from continuum.messages.audit import (
    AuditAck,
    AuditDelivery,
    AuditEvent,
    AuditPublisherStatus,
    AuditType,
)
from continuum.ports import AuditTransport, Clock

__all__ = ["AuditPublisherEscalation", "AuditPublisherSink", "run_audit_publisher"]

log = structlog.get_logger("continuum.audit")


class AuditPublisherSink:
    """:class:`~continuum.ports.AuditSink` in front of the current :class:`AuditPublisher`
    incarnation (:meth:`attach` switches to a new one after a restart)."""

    def __init__(
        self, ref: ActorRef, publisher: AuditPublisher, *, durable: DurableOutbox | None = None
    ) -> None:
        self._ref = ref
        self._publisher = publisher
        self._gate = publisher.gate
        self._durable = durable if durable is not None else publisher.durable
        self.coalesced = 0

    def attach(self, ref: ActorRef, publisher: AuditPublisher) -> None:
        """Route to a new incarnation (sharing this one's gate and outbox)."""
        self._ref = ref
        self._publisher = publisher

    async def emit(self, event: AuditEvent) -> None:
        """Accept ``event``: returns once it is durable and in the outbox, never waiting on
        NATS. Waits while the outbox is full or the durable store fails (back-pressure;
        nothing is dropped); a ``continuum-reconcile-success`` is coalesced instead of
        waiting. Raises :class:`AuditUnavailable` once the publisher is shut down.

        A cancelled caller does not withdraw its event: once ``emit`` was called the event
        is accepted anyway (past the outbox limit if it was still waiting for room), so a
        caller's timeout never loses a transition event."""
        if event.type is AuditType.RECONCILE_SUCCESS and self._gate.full and not self._gate.closed:
            self.coalesced += 1
            metrics.count_audit_coalesced()
            return
        try:
            await self._gate.acquire()
        except anyio.get_cancelled_exc_class():
            if not self._gate.closed:
                self._gate.force_acquire()
                self._accept_later(event)
            raise
        if self._durable is None:
            self._accept(event, "")
            return
        await self._durable.commit(event, on_durable=lambda record: self._accept(event, record))

    def _accept_later(self, event: AuditEvent) -> None:
        if self._durable is None:
            self._accept(event, "")
        else:
            self._durable.enqueue(event, on_durable=lambda record: self._accept(event, record))

    def _accept(self, event: AuditEvent, record: str) -> None:
        """Hand a durable (or, without a store, accepted) event to the current incarnation's
        outbox (synchronous: nothing can be lost between the write and the outbox)."""
        self._publisher.accept(event, record=record, gated=True)

    def try_emit(self, event: AuditEvent) -> bool:
        """Accept ``event`` without ever waiting; ``False`` (nothing accepted) when the
        outbox is full, the publisher is shut down, or a durable store is configured (a
        durable accept always waits for its write)."""
        if self._durable is not None or not self._gate.try_acquire():
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
        """Backlog, readiness and counters (metrics and ``/readyz``)."""
        return self._publisher.status(coalesced=self.coalesced)

    def ready(self) -> bool:
        """``False`` while the outbox is full (emitters wait), while its oldest event waits
        longer than ``stale_after``, while the durable store fails, and after shutdown."""
        return self._publisher.status().ready

    def close(self) -> None:
        """Refuse further events; waiting emitters raise :class:`AuditUnavailable`."""
        self._gate.close()


def _publisher(cell: ActorCell) -> AuditPublisher:
    actor = cell.actor
    assert isinstance(actor, AuditPublisher)
    return actor


class AuditPublisherEscalation(ContinuumError):
    """The publisher crashed more often than its restart budget allows."""


@asynccontextmanager
async def run_audit_publisher(
    transport: AuditTransport,
    *,
    clock: Clock,
    options: AuditPublisherOptions | None = None,
    store: OutboxStore | None = None,
    on_stored: Callable[[Pending, AuditAck], None] | None = None,
    name: str = "audit-publisher",
) -> AsyncIterator[AuditPublisherSink]:
    """Run a supervised :class:`AuditPublisher` for the block and yield its sink.

    With ``store``, accepted events are durable: first every record a previous process
    left is read back into the outbox (in order, before any new event is accepted), then
    the block runs. A crashed publisher is restarted with its outbox intact, within
    ``options.restart_intensity`` crashes per ``options.restart_period``; past it
    :class:`AuditPublisherEscalation` leaves the block.

    On exit (shielded): the sink is closed, everything accepted is flushed within
    ``options.flush_timeout``; with a store, deletions of settled records get the same
    bound, and what is left is sent by the next start.
    """
    options = options or AuditPublisherOptions()
    outbox = AuditOutbox(options.outbox_limit)
    gate = EmitGate(outbox.limit)
    counters = AuditCounters()
    durable = (
        DurableOutbox(
            store,
            clock=clock,
            backoff_initial=options.backoff_initial,
            backoff_max=options.backoff_max,
        )
        if store is not None
        else None
    )
    if durable is not None:
        now = clock.monotonic()
        for record in await durable.recover():
            for event in record.events:
                outbox.add(event, now=now, gated=True, record=record.name)
            gate.force_acquire(len(record.events))

    def make() -> AuditPublisher:
        return AuditPublisher(
            transport,
            options=options,
            outbox=outbox,
            gate=gate,
            durable=durable,
            counters=counters,
            on_stored=on_stored,
        )

    flush = options.flush_timeout
    crashes: deque[float] = deque()
    escalation: list[BaseException] = []
    async with anyio.create_task_group() as tg:
        if durable is not None:
            tg.start_soon(durable.run, name="audit-outbox-writer")
        async with ActorHost() as host:
            first = ActorCell(make(), name=name, clock=clock, host=host)
            sink = AuditPublisherSink(first.ref, _publisher(first), durable=durable)
            current = [first]

            async def supervise() -> None:
                while True:
                    cell = current[0]
                    error = await cell.run()
                    if error is None or gate.closed:
                        return
                    now = clock.monotonic()
                    crashes.append(now)
                    while crashes and now - crashes[0] > options.restart_period:
                        crashes.popleft()
                    if len(crashes) > options.restart_intensity:
                        escalation.append(error)
                        tg.cancel_scope.cancel()
                        return
                    log.warning(
                        "audit_publisher_restarting",
                        error=describe(error),
                        outbox=len(outbox),
                        restarts=cell.restarts + 1,
                    )
                    successor = ActorCell(
                        make(),
                        name=name,
                        clock=clock,
                        host=host,
                        restarts=cell.restarts + 1,
                        last_error=describe(error),
                    )
                    current[0] = successor
                    sink.attach(successor.ref, _publisher(successor))

            host.start_soon(supervise, name=f"actor:{name}")
            try:
                yield sink
            finally:
                with anyio.CancelScope(shield=True):
                    sink.close()
                    ref = current[0].ref
                    if ref.alive:
                        try:
                            await ref.ask(FlushAudit(flush), timeout=flush + 1)
                        except (ActorDead, AskTimeout) as exc:
                            log.error("audit_flush_failed", error=str(exc))
                    await current[0].stop_within(2 * flush + 1)
                    if durable is not None:
                        await durable.drain_deletions(flush)
        tg.cancel_scope.cancel()
    if escalation:
        raise AuditPublisherEscalation(
            f"audit publisher crashed {len(crashes)} times within {options.restart_period}s"
        ) from escalation[0]
