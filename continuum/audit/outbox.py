"""The audit outbox (events accepted, not yet stored) and the ``reconcile-success`` throttle.

Pure bookkeeping, no I/O and no awaits: the ``AuditPublisher`` actor drives it. The outbox
keeps one FIFO per CR and lets at most one event per CR be in flight, which is what makes
per-CR order hold whatever happens to a connection: an event is only sent once every earlier
event of its CR has been acknowledged as stored.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterator
from dataclasses import dataclass

from continuum.messages.audit import AuditEvent

__all__ = ["AuditCounters", "AuditOutbox", "Pending", "ReconcileSuccessThrottle"]


@dataclass(slots=True)
class AuditCounters:
    """Totals of a process's publisher, across its incarnations (a restart keeps them)."""

    stored: int = 0
    duplicates: int = 0
    failures: int = 0


@dataclass(slots=True)
class Pending:
    """One accepted event and its delivery attempts."""

    event: AuditEvent
    accepted_at: float
    gated: bool = False
    """Accepted through the sink's outbox gate (a slot is freed once it is stored)."""
    record: str = ""
    """The durable outbox record holding it ("" without a durable store)."""
    attempts: int = 0
    in_flight: bool = False
    sent_at: float = 0.0
    last_error: str = ""

    @property
    def continuum(self) -> str:
        return self.event.continuumName


class AuditOutbox:
    """Events accepted and not yet stored, in acceptance order per CR.

    Guarantees: :meth:`take` hands out only the head of a CR's queue, and only when nothing
    of that CR is in flight; an event leaves the outbox only through :meth:`stored` (or
    :meth:`drop_all`). ``limit`` is advisory here (:attr:`full`); the sink enforces it.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("outbox limit must be at least 1")
        self.limit = limit
        self._queues: dict[str, deque[Pending]] = {}
        self._ready: deque[str] = deque()
        self._in_flight: dict[str, Pending] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def full(self) -> bool:
        return self._size >= self.limit

    @property
    def in_flight_count(self) -> int:
        return len(self._in_flight)

    def add(
        self, event: AuditEvent, *, now: float, gated: bool = False, record: str = ""
    ) -> Pending:
        """Append ``event`` behind every earlier event of its CR. Never refuses."""
        pending = Pending(event=event, accepted_at=now, gated=gated, record=record)
        queue = self._queues.get(pending.continuum)
        if queue is None:
            queue = self._queues[pending.continuum] = deque()
        queue.append(pending)
        if len(queue) == 1:
            self._ready.append(pending.continuum)
        self._size += 1
        return pending

    def take(self, limit: int, *, now: float) -> list[Pending]:
        """Up to ``limit`` events to send now: the head of each CR with nothing in flight,
        oldest-ready CR first. Each is marked in flight with a new attempt number."""
        batch: list[Pending] = []
        while self._ready and len(batch) < limit:
            head = self._queues[self._ready.popleft()][0]
            head.in_flight = True
            head.attempts += 1
            head.sent_at = now
            self._in_flight[head.continuum] = head
            batch.append(head)
        return batch

    def head(self, continuum: str) -> Pending | None:
        queue = self._queues.get(continuum)
        return queue[0] if queue else None

    def stored(self, continuum: str, event_id: str) -> Pending | None:
        """Remove the CR's head if it is ``event_id`` (in flight or not: a late ack still
        proves it stored). Returns it, or ``None`` for a stale result."""
        queue = self._queues.get(continuum)
        if not queue or queue[0].event.eventId != event_id:
            return None
        head = queue.popleft()
        self._size -= 1
        if head.in_flight:
            del self._in_flight[continuum]
        else:
            # A late ack for an event waiting to be retried: its CR sits in the ready queue.
            self._ready.remove(continuum)
        if queue:
            self._ready.append(continuum)
        else:
            del self._queues[continuum]
        return head

    def failed(self, continuum: str, event_id: str, *, attempt: int, error: str) -> bool:
        """Return the in-flight head to the front of the line for a retry. ``False`` (no
        change) when the result is stale: not in flight, or from an older attempt."""
        head = self._in_flight.get(continuum)
        if head is None or head.event.eventId != event_id or head.attempts != attempt:
            return False
        del self._in_flight[continuum]
        head.in_flight = False
        head.last_error = error
        self._ready.appendleft(continuum)
        return True

    def fail_in_flight(self, error: str) -> list[Pending]:
        """Mark every in-flight event failed (connection lost); returns them."""
        failed = list(self._in_flight.values())
        for head in failed:
            self.failed(head.continuum, head.event.eventId, attempt=head.attempts, error=error)
        return failed

    def in_flight(self) -> list[Pending]:
        return list(self._in_flight.values())

    def overdue(self, *, now: float, timeout: float) -> list[Pending]:
        """In-flight events sent more than ``timeout`` seconds ago."""
        return [p for p in self._in_flight.values() if now - p.sent_at > timeout]

    def pending_for(self, continuum: str) -> tuple[Pending, ...]:
        return tuple(self._queues.get(continuum, ()))

    def oldest_accepted_at(self) -> float | None:
        heads = [queue[0].accepted_at for queue in self._queues.values()]
        return min(heads) if heads else None

    def __iter__(self) -> Iterator[Pending]:
        for queue in self._queues.values():
            yield from queue

    def drop_all(self) -> list[Pending]:
        """Empty the outbox (final shutdown); returns what was undelivered."""
        dropped = list(self)
        self._queues.clear()
        self._ready.clear()
        self._in_flight.clear()
        self._size = 0
        return dropped


class ReconcileSuccessThrottle:
    """Whether a ``continuum-reconcile-success`` is worth emitting (one per tick would flood
    the audit stream).

    Says yes on the first call, whenever the observed ``state`` differs from the one last
    emitted, and otherwise at most once per ``heartbeat`` seconds (a liveness signal). One
    instance per CR; times are ``clock.monotonic()`` values.
    """

    def __init__(self, *, heartbeat: float = 600.0) -> None:
        if heartbeat <= 0:
            raise ValueError("heartbeat must be positive")
        self.heartbeat = heartbeat
        self._state: Hashable = None
        self._emitted_at: float | None = None

    def should_emit(self, state: Hashable, *, now: float) -> bool:
        """Decide for this tick; a ``True`` answer counts as emitted."""
        due = (
            self._emitted_at is None
            or state != self._state
            or now - self._emitted_at >= self.heartbeat
        )
        if due:
            self._state = state
            self._emitted_at = now
        return due

    def reset(self) -> None:
        """Forget history: the next call emits (e.g. after the lease was re-acquired)."""
        self._state = None
        self._emitted_at = None
