"""The ``AuditPublisher`` actor: audit events to JetStream, in order per CR, never lost quietly.

The actor sends the head event of every CR that has nothing in flight, pipelined across CRs
(``max_in_flight``), and sends a CR's next event only once the previous one is acknowledged
as stored, so per-CR order holds across timeouts, reconnects and server restarts; the
deterministic ``Nats-Msg-Id`` makes every retry of a stored event a duplicate the server
drops. Connection loss fails the in-flight events at once; a repeating ``tick`` (on the
injected clock) expires unanswered publishes (``ack_timeout``), reconnects with exponential
backoff and resumes draining in order.

Callers reach it through its sink (``continuum.audit.sink``); on a normal stop it
flushes what its outbox holds within ``flush_timeout``.

Its outbox, gate and durable outbox are handed in and outlive the actor: a crashed
incarnation leaves them as they are and the supervisor's next incarnation carries on with
them (events in flight at the crash are sent again; the server drops the duplicates). What is
still pending at a normal stop stays in the durable store and is sent by the next process.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress

import anyio
import msgspec
import structlog

from continuum import metrics
from continuum.actors.runtime import Actor, ActorDead, ChildTask
from continuum.audit.durable import DurableOutbox
from continuum.audit.gate import EmitGate
from continuum.audit.outbox import AuditCounters, AuditOutbox, Pending
from continuum.audit.protocol import (
    AuditConfigurationError,
    AuditPublisherOptions,
    FlushAudit,
    PublishAudit,
)
from continuum.errors import AuditUnavailable, ContinuumError
from continuum.messages.audit import (
    AuditAck,
    AuditDelivery,
    AuditEvent,
    AuditFlushReport,
    AuditPublisherStatus,
)
from continuum.ports import AuditTransport

__all__ = ["AuditPublisher"]

log = structlog.get_logger("continuum.audit")


class _Sent(msgspec.Struct, frozen=True):
    continuum: str
    event_id: str
    attempt: int


class _BatchDone(msgspec.Struct, frozen=True):
    sent: list[_Sent]
    results: list[AuditAck | str]


class _BatchFailed(msgspec.Struct, frozen=True):
    sent: list[_Sent]
    error: str


class _Tick(msgspec.Struct, frozen=True):
    pass


class _Kick(msgspec.Struct, frozen=True):
    """Events were added to the shared outbox (by :meth:`AuditPublisher.accept`)."""


class _Down(msgspec.Struct, frozen=True):
    pass


class _SetupDone(msgspec.Struct, frozen=True):
    pass


class _SetupFailed(msgspec.Struct, frozen=True):
    error: str
    fatal: bool


_ROUND = 256


class AuditPublisher(Actor):
    """Publishes accepted events to the transport; see the module docstring."""

    mailbox_size = 1024

    def __init__(
        self,
        transport: AuditTransport,
        *,
        options: AuditPublisherOptions | None = None,
        outbox: AuditOutbox | None = None,
        gate: EmitGate | None = None,
        durable: DurableOutbox | None = None,
        counters: AuditCounters | None = None,
        on_stored: Callable[[Pending, AuditAck], None] | None = None,
    ) -> None:
        """``outbox`` / ``gate`` / ``durable``: pass the previous incarnation's to carry them
        across a restart. ``on_stored``: hook called once per stored event (keep it cheap;
        it runs inside the actor; an exception from it crashes the actor)."""
        self.options = options or AuditPublisherOptions()
        self._on_stored_hook = on_stored
        self.transport = transport
        self.outbox = outbox if outbox is not None else AuditOutbox(self.options.outbox_limit)
        self.gate = gate if gate is not None else EmitGate(self.outbox.limit)
        self.durable = durable
        self.counters = counters if counters is not None else AuditCounters()
        self.last_error = ""
        self._children: dict[str, ChildTask] = {}
        self._last_stored: dict[str, str] = {}
        self._setup_running = False
        self._backoff = self.options.backoff_initial
        self._paused_until = 0.0
        self._full_since: float | None = None
        self._flushing = False
        self._kicked = False
        self.final_report: AuditFlushReport | None = None

    # --- lifecycle ---------------------------------------------------------------------

    async def on_start(self) -> None:
        ref = self.ctx.ref

        async def down() -> None:
            if ref.alive:
                with suppress(ActorDead):
                    await ref.tell(_Down())

        self.transport.on_down(down)
        self.outbox.fail_in_flight("publisher restarted")  # a crashed predecessor's sends
        self.ctx.start_timer("tick", self.options.tick, _Tick(), repeat=True)
        self._start_setup()

    async def on_stop(self, error: BaseException | None) -> None:
        self.transport.on_down(None)
        if error is not None:
            # A crash: the outbox, the gate and the durable records stay as they are for
            # the supervisor's next incarnation.
            with anyio.CancelScope(shield=True):
                await self.transport.aclose()
            return
        if self.final_report is None and len(self.outbox):
            await self._flush(self.options.flush_timeout)
        undelivered = self.outbox.drop_all()
        for pending in undelivered:
            if pending.gated:
                self.gate.release()
        self.gate.close()
        if undelivered and self.durable is not None:
            log.warning(
                "audit_pending_at_shutdown",
                pending=len(undelivered),
                continuums=sorted({p.continuum for p in undelivered}),
                error=self.last_error,
                kept="durable outbox: sent by the next start",
            )
        elif undelivered:
            metrics.count_audit_dropped(len(undelivered))
            log.error(
                "audit_undelivered_at_shutdown",
                undelivered=len(undelivered),
                continuums=sorted({p.continuum for p in undelivered}),
                error=self.last_error,
            )
        with anyio.CancelScope(shield=True):
            await self.transport.aclose()

    # --- accepting (called by the sink, between messages) --------------------------------

    def accept(self, event: AuditEvent, *, record: str = "", gated: bool = False) -> None:
        """Add ``event`` (already durable in ``record``) to the shared outbox and wake the
        actor. Synchronous, so an event is never lost between its durable write and the
        outbox, whichever incarnation runs (or none, during a restart backoff)."""
        self._add(event, record=record, gated=gated, now=self.ctx.clock.monotonic())
        if self._kicked:
            return  # one kick covers every event added before it is handled
        try:
            self.ctx.ref.tell_nowait(_Kick())
            self._kicked = True
        except ContinuumError:
            # Mailbox full or between incarnations (the next one dispatches on start, the
            # tick dispatches anyway): the event is in the outbox and will be sent.
            pass

    def _add(self, event: AuditEvent, *, record: str, gated: bool, now: float) -> None:
        self.outbox.add(event, now=now, gated=gated, record=record)
        if self.outbox.full and self._full_since is None:
            self._full_since = now
            log.warning("audit_outbox_full", limit=self.outbox.limit, backlog=len(self.outbox))

    # --- messages ----------------------------------------------------------------------

    async def on_message(self, message: msgspec.Struct) -> object:
        now = self.ctx.clock.monotonic()
        match message:
            case PublishAudit(event=event, gated=gated, record=record):
                self._add(event, record=record, gated=gated, now=now)
                self._dispatch_soon(now)
            case _Kick():
                # One kick covers a whole burst of accepts already: dispatch at once.
                self._kicked = False
                self._dispatch(now)
            case _BatchDone(sent=sent, results=results):
                for item, result in zip(sent, results, strict=True):
                    self._children.pop(item.event_id, None)
                    if isinstance(result, AuditAck):
                        self._on_stored(item.continuum, item.event_id, result, now, dispatch=False)
                    elif self.outbox.failed(
                        item.continuum, item.event_id, attempt=item.attempt, error=result
                    ):
                        self._on_failure(result, now)
                self._dispatch_soon(now)
            case _BatchFailed(sent=sent, error=error):
                for item in sent:
                    self._children.pop(item.event_id, None)
                    if self.outbox.failed(
                        item.continuum, item.event_id, attempt=item.attempt, error=error
                    ):
                        self._on_failure(error, now)
            case _Tick():
                self._on_tick(now)
            case _Down():
                self._fail_in_flight("connection to NATS lost", now)
            case _SetupDone():
                self._setup_running = False
                log.info("audit_publisher_connected", backlog=len(self.outbox))
                self._dispatch(now)
            case _SetupFailed(error=error, fatal=fatal):
                self._setup_running = False
                if fatal:
                    raise AuditConfigurationError(error)
                self._on_failure(error, now)
            case FlushAudit(timeout=timeout):
                return await self._flush(timeout)
            case _:
                raise AuditUnavailable(f"AuditPublisher does not handle {type(message).__name__}")
        return None

    def _on_stored(
        self, continuum: str, event_id: str, ack: AuditAck, now: float, *, dispatch: bool = True
    ) -> None:
        self._children.pop(event_id, None)
        head = self.outbox.head(continuum)
        if head is None or head.event.eventId != event_id:
            return  # a stale result: that event is no longer the CR's head
        if self._on_stored_hook is not None:
            # Before the outbox forgets the event: a crash in the hook leaves it pending
            # (sent again by the next incarnation, dropped by the server as a duplicate).
            self._on_stored_hook(head, ack)
        pending = self.outbox.stored(continuum, event_id)
        if pending is None:
            return
        self.counters.stored += 1
        self.counters.duplicates += ack.duplicate
        metrics.count_audit_stored(duplicate=ack.duplicate)
        if self.durable is not None and pending.record:
            self.durable.settled(pending.record)
        self._last_stored[continuum] = event_id
        self._backoff = self.options.backoff_initial
        self._paused_until = 0.0
        if pending.gated:
            self.gate.release()
        if self._full_since is not None and not self.outbox.full:
            log.info("audit_outbox_recovered", full_for=round(now - self._full_since, 3))
            self._full_since = None
        if dispatch:
            self._dispatch(now)

    def _on_failure(self, error: str, now: float) -> None:
        self.counters.failures += 1
        metrics.count_audit_publish_failure()
        if error != self.last_error:
            log.warning("audit_publish_failed", error=error, backlog=len(self.outbox))
        self.last_error = error
        self._paused_until = now + self._backoff
        self._backoff = min(self._backoff * 2, self.options.backoff_max)

    def _on_tick(self, now: float) -> None:
        overdue = self.outbox.overdue(now=now, timeout=self.options.ack_timeout)
        for pending in overdue:
            self._cancel_child(pending.event.eventId)
            error = f"no ack within {self.options.ack_timeout}s"
            self.outbox.failed(
                pending.continuum, pending.event.eventId, attempt=pending.attempts, error=error
            )
        if overdue:
            self._on_failure(f"no ack within {self.options.ack_timeout}s", now)
        if not self.transport.connected and not self._setup_running and now >= self._paused_until:
            self._start_setup()
        self._dispatch(now)

    def _fail_in_flight(self, error: str, now: float) -> None:
        failed = self.outbox.fail_in_flight(error)
        for pending in failed:
            self._cancel_child(pending.event.eventId)
        self._on_failure(error, now)

    # --- sending -----------------------------------------------------------------------

    def _start_setup(self) -> None:
        self._setup_running = True
        self.ctx.start_child(
            self.transport.setup,
            on_result=lambda _: _SetupDone(),
            on_error=lambda exc: _SetupFailed(
                error=str(exc), fatal=not isinstance(exc, AuditUnavailable)
            ),
            name="audit-setup",
        )

    def _dispatch_soon(self, now: float) -> None:
        """Dispatch once the mailbox is drained, so a burst of events leaves as one pipelined
        round instead of one round per event; a long backlog dispatches regardless."""
        waiting = len(self.outbox) - self.outbox.in_flight_count
        if waiting >= _ROUND or self.ctx.ref.statistics().mailbox_depth == 0:
            self._dispatch(now)

    def _dispatch(self, now: float) -> None:
        if self._flushing or not self.transport.connected or now < self._paused_until:
            return
        room = self.options.max_in_flight - self.outbox.in_flight_count
        batch = self.outbox.take(room, now=now)
        if batch:
            child = self._send(batch)
            for pending in batch:
                self._children[pending.event.eventId] = child

    def _send(self, batch: list[Pending]) -> ChildTask:
        """One child per dispatch round: the round's events (one per CR) are pipelined on
        the connection and their outcomes come back as one message."""
        events = [p.event for p in batch]
        sent = [_Sent(p.continuum, p.event.eventId, p.attempts) for p in batch]
        return self.ctx.start_child(
            lambda: self.transport.publish_many(events),
            on_result=lambda results: _BatchDone(sent, results),
            on_error=lambda exc: _BatchFailed(sent, str(exc)),
            name="audit-publish",
        )

    def _cancel_child(self, event_id: str) -> None:
        """Cancel the publish carrying ``event_id``; its round's other events, whose
        outcome is now unknown, go back to the outbox for a retry (a duplicate if stored)."""
        child = self._children.pop(event_id, None)
        if child is None:
            return
        child.cancel()
        for other in [e for e, c in self._children.items() if c is child]:
            del self._children[other]
            head = next((p for p in self.outbox.in_flight() if p.event.eventId == other), None)
            if head is not None:
                self.outbox.failed(
                    head.continuum, other, attempt=head.attempts, error="publish cancelled"
                )

    async def _flush(self, timeout: float) -> AuditFlushReport:
        """Deliver what the outbox holds, bounded by ``timeout`` of clock time, from this
        task (the actor handles nothing else meanwhile). Order per CR is kept."""
        clock = self.ctx.clock
        deadline = clock.monotonic() + timeout
        for event_id in list(self._children):
            self._cancel_child(event_id)
        self.outbox.fail_in_flight("flushing")
        before = self.counters.stored
        self._flushing = True
        with anyio.CancelScope(shield=True) as scope:

            async def expire() -> None:
                await clock.sleep_until(deadline)
                scope.cancel()

            async with anyio.create_task_group() as tg:
                tg.start_soon(expire)
                await self._flush_rounds()
                tg.cancel_scope.cancel()
        self._flushing = False
        self.outbox.fail_in_flight("flush deadline")
        report = AuditFlushReport(
            delivered=self.counters.stored - before, undelivered=len(self.outbox)
        )
        self.final_report = report
        log.info("audit_flushed", delivered=report.delivered, undelivered=report.undelivered)
        return report

    async def _flush_rounds(self) -> None:
        clock = self.ctx.clock
        backoff = self.options.backoff_initial
        while len(self.outbox):
            if not self.transport.connected:
                try:
                    await self.transport.setup()
                except AuditUnavailable as exc:
                    self.last_error = str(exc)
                    await clock.sleep(backoff)
                    backoff = min(backoff * 2, self.options.backoff_max)
                    continue
            batch = self.outbox.take(self.options.max_in_flight, now=clock.monotonic())
            async with anyio.create_task_group() as tg:
                for pending in batch:
                    tg.start_soon(self._flush_one, pending)

    async def _flush_one(self, pending: Pending) -> None:
        now = self.ctx.clock.monotonic()
        event_id = pending.event.eventId
        try:
            ack = await self.transport.publish(pending.event)
        except AuditUnavailable as exc:
            if self.outbox.failed(
                pending.continuum, event_id, attempt=pending.attempts, error=str(exc)
            ):
                self.counters.failures += 1
                metrics.count_audit_publish_failure()
                self.last_error = str(exc)
            return
        self._on_stored(pending.continuum, event_id, ack, now)

    # --- views (read by the sink; plain reads between messages) -------------------------

    def delivery_state(self, continuum: str) -> AuditDelivery:
        now = self.ctx.clock.monotonic()
        pending = self.outbox.pending_for(continuum)
        oldest = now - pending[0].accepted_at if pending else 0.0
        failed = pending[0].last_error if pending else ""
        delivered = not pending or (oldest < self.options.stale_after and not failed)
        reason = "Delivered" if delivered else "Pending"
        if self.gate.full:
            delivered, reason = False, "OutboxFull"
        return AuditDelivery(
            continuum=continuum,
            delivered=delivered,
            reason=reason,
            pending=len(pending),
            oldest_pending_seconds=round(oldest, 3),
            last_error=(failed or self.last_error) if pending else "",
            last_stored_event_id=self._last_stored.get(continuum, ""),
        )

    def status(self, *, coalesced: int = 0) -> AuditPublisherStatus:
        now = self.ctx.clock.monotonic()
        oldest = self.outbox.oldest_accepted_at()
        full = self.gate.full
        durable = self.durable
        store_failing = durable is not None and durable.store_failing
        stuck = oldest is not None and now - oldest >= self.options.stale_after
        return AuditPublisherStatus(
            connected=self.transport.connected,
            ready=not full and not self.gate.closed and not stuck and not store_failing,
            full=full,
            outbox=len(self.outbox),
            outbox_limit=self.outbox.limit,
            in_flight=self.outbox.in_flight_count,
            blocked_emitters=self.gate.waiting,
            stored=self.counters.stored,
            duplicates=self.counters.duplicates,
            failures=self.counters.failures,
            oldest_pending_seconds=round(now - oldest, 3) if oldest is not None else 0.0,
            last_error=(durable.last_error if store_failing and durable else self.last_error),
            coalesced=coalesced,
            durable=durable is not None,
            records_pending=durable.records_pending if durable is not None else 0,
            records_written=durable.records_written if durable is not None else 0,
            store_failing=store_failing,
        )
