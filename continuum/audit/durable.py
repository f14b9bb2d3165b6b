"""Group commit of accepted audit events to the durable :class:`OutboxStore`, and deletion of
records whose events are all stored in JetStream.

An event is *accepted* when :meth:`DurableOutbox.commit` returns: from then on it is in a
durable record and survives a publisher crash, a SIGKILL of the process and a restart on
another node (:meth:`DurableOutbox.recover` reads it back). Every caller waiting meanwhile
shares one write (group commit), so a hundred concurrent emitters cost one API request, not a
hundred; records are written one at a time, in order.

Never drops: a failing write is retried with backoff (the callers keep waiting: that is the
back-pressure ``emit`` exerts on the emitting actor), and ``last_error`` / ``store_failing``
say so. A record is deleted only after every one of its events is stored (:meth:`settled`);
a failed delete is retried, and if the process dies first the record's events are published
again on the next start — JetStream drops them as duplicates within its window, consumers by
``eventId`` beyond it.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

import anyio
import structlog

from continuum.audit.store import OutboxRecord, OutboxStore, record_payload_size
from continuum.errors import ContinuumError
from continuum.messages.audit import AuditEvent
from continuum.ports import Clock

__all__ = ["GROUP_RECORDS", "MAX_RECORD_BYTES", "MAX_RECORD_EVENTS", "DurableOutbox"]

log = structlog.get_logger("continuum.audit")

MAX_RECORD_EVENTS: Final = 1024
"""Events in one record at most."""
MAX_RECORD_BYTES: Final = 512 * 1024
"""Encoded events in one record at most (a ConfigMap holds at most 1 MiB)."""
_RECORD: Final = "record:"
"""Prefix of a deletion queue entry naming one record (the others name a group)."""
GROUP_RECORDS: Final = 16
"""Records per deletion group: settled records are deleted a group per request."""


@dataclass(slots=True)
class _Batch:
    events: list[AuditEvent] = field(default_factory=list)
    size: int = 2
    name: str = ""
    done: anyio.Event = field(default_factory=anyio.Event)
    callbacks: list[Callable[[str], None]] = field(default_factory=list)


class DurableOutbox:
    """The durable side of the audit outbox; one per process, shared by every incarnation of
    the :class:`~continuum.audit.publisher.AuditPublisher` (it outlives their crashes).

    Run :meth:`run` in a task for as long as events may be committed; it writes pending
    batches and deletes settled records. Single event loop; no locking needed.
    """

    def __init__(
        self,
        store: OutboxStore,
        *,
        clock: Clock,
        incarnation: str | None = None,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        on_store_error: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        # Random, not derived from time or pid: two incarnations must never share a record
        # name (a second create of a name is taken for a retry of the first).
        self.incarnation = incarnation or uuid.uuid4().hex[:16]
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._on_store_error = on_store_error
        self._batches: deque[_Batch] = deque()
        self._remaining: dict[str, int] = {}
        self._group_of: dict[str, str] = {}
        self._group_left: dict[str, int] = {}
        self._group = ""
        self._group_records = 0
        self._groups = 0
        self._deletions: deque[str] = deque()
        self._wake = anyio.Event()
        self._deleted = anyio.Event()
        self._idle = anyio.Event()
        self._seq = 0
        self.records_written = 0
        self.records_deleted = 0
        self.store_failing = False
        self.last_error = ""

    # --- accepting ----------------------------------------------------------------------

    async def commit(
        self, event: AuditEvent, *, on_durable: Callable[[str], None] | None = None
    ) -> str:
        """Make ``event`` durable; returns the name of the record holding it. Waits for the
        write (shared with every event committed meanwhile) and across store failures; never
        gives up. ``on_durable(record)`` runs once the record is written, whether or not the
        caller is still waiting: a cancelled caller's event is still written and handed on."""
        batch = self.enqueue(event, on_durable=on_durable)
        await batch.done.wait()
        return batch.name

    def enqueue(
        self, event: AuditEvent, *, on_durable: Callable[[str], None] | None = None
    ) -> _Batch:
        """Queue ``event`` for the next record write without waiting (see :meth:`commit`)."""
        size = record_payload_size([event]) + 1
        batch = self._batches[-1] if self._batches else None
        if (
            batch is None
            or batch.name  # already being written
            or len(batch.events) >= MAX_RECORD_EVENTS
            or batch.size + size > MAX_RECORD_BYTES
        ):
            batch = _Batch()
            self._batches.append(batch)
        batch.events.append(event)
        batch.size += size
        if on_durable is not None:
            batch.callbacks.append(on_durable)
        self._wake.set()
        return batch

    @property
    def committing(self) -> int:
        """Events waiting for their record to be written."""
        return sum(len(b.events) for b in self._batches)

    # --- settling -----------------------------------------------------------------------

    def track(self, name: str, events: int, *, group: str) -> None:
        """Count ``events`` of record ``name`` (in deletion group ``group``; ``""``: a record
        recovered from another incarnation, deleted by its name) as pending."""
        if name not in self._remaining and group:
            self._group_of[name] = group
            self._group_left[group] = self._group_left.get(group, 0) + 1
        self._remaining[name] = self._remaining.get(name, 0) + events

    def settled(self, name: str) -> None:
        """One event of record ``name`` is stored in JetStream. Records are deleted a group
        at a time (one request per :data:`GROUP_RECORDS` records), once every event of every
        record of the group is stored and no new record can join the group."""
        left = self._remaining.get(name)
        if left is None:
            return
        if left > 1:
            self._remaining[name] = left - 1
            return
        del self._remaining[name]
        group = self._group_of.pop(name, "")
        if not group:
            # Recovered: its group may belong to an incarnation that is still alive (a
            # leader while this replica starts) and still adding records to it, so only
            # this record, by name, is ours to delete.
            self._deletions.append(_RECORD + name)
            self._deleted.set()
            return
        self._group_left[group] -= 1
        if self._group_left[group] == 0 and (group != self._group or not self._batches):
            self._close_group(group)

    def _close_group(self, group: str) -> None:
        del self._group_left[group]
        if group == self._group:
            self._group = ""
        self._deletions.append(group)
        self._deleted.set()

    @property
    def records_pending(self) -> int:
        """Records with events not yet stored, plus groups of settled records not yet
        deleted: 0 once the store holds nothing of this process."""
        return len(self._remaining) + len(self._deletions)

    # --- recovery -----------------------------------------------------------------------

    async def recover(self) -> list[OutboxRecord]:
        """Every record a previous incarnation (of this process or another) left behind,
        oldest first; retried with backoff until the store answers."""
        backoff = self.backoff_initial
        while True:
            try:
                records = await self.store.load()
            except ContinuumError as exc:
                self._failed(str(exc))
                await self.clock.sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max)
                continue
            self._recovered_ok()
            for record in records:
                self.track(record.name, len(record.events), group="")
            if records:
                log.info(
                    "audit_outbox_recovered_records",
                    records=len(records),
                    events=sum(len(r.events) for r in records),
                )
            return records

    async def drain_deletions(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds of clock time for every queued write and deletion
        to finish (the shutdown path); returns whether they did."""
        deadline = self.clock.monotonic() + timeout
        while self._batches or self._deletions:
            if self.clock.monotonic() >= deadline:
                return False
            self._idle = anyio.Event()
            with anyio.CancelScope() as scope:

                async def expire(scope: anyio.CancelScope = scope) -> None:
                    await self.clock.sleep_until(deadline)
                    scope.cancel()

                async with anyio.create_task_group() as tg:
                    tg.start_soon(expire)
                    await self._idle.wait()
                    tg.cancel_scope.cancel()
        return True

    # --- the writer task ----------------------------------------------------------------

    async def run(self) -> None:
        """Write batches in order and delete settled records (in a second task, so a
        deletion never delays an accept), until cancelled."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._run_deletions)
            while True:
                while not self._batches:
                    self._wake_idle()
                    self._wake = anyio.Event()
                    await self._wake.wait()
                await self._write(self._batches[0])
                batch = self._batches.popleft()
                for callback in batch.callbacks:
                    callback(batch.name)
                batch.done.set()

    async def _run_deletions(self) -> None:
        while True:
            while not self._deletions:
                self._wake_idle()
                self._deleted = anyio.Event()
                await self._deleted.wait()
            await self._delete(self._deletions[0])
            self._deletions.popleft()

    def _wake_idle(self) -> None:
        if not self._batches and not self._deletions:
            self._idle.set()

    async def _write(self, batch: _Batch) -> None:
        self._seq += 1
        if not self._group or self._group_records >= GROUP_RECORDS:
            previous = self._group
            self._groups += 1
            self._group = f"{self.incarnation}-{self._groups}"
            self._group_records = 0
            if previous and self._group_left.get(previous) == 0:
                self._close_group(previous)
        self._group_records += 1
        group = self._group
        self._group_left.setdefault(group, 0)
        now = self.clock.now()
        batch.name = f"continuum-audit-{self.incarnation}-{self._seq:08d}"
        record = OutboxRecord(
            name=batch.name,
            group=group,
            accepted_at_ns=int(now.timestamp() * 1e9),
            seq=self._seq,
            events=tuple(batch.events),
        )
        await self._retry(lambda: self.store.write(record))
        self.track(batch.name, len(batch.events), group=group)
        self.records_written += 1

    async def _delete(self, item: str) -> None:
        if item.startswith(_RECORD):
            name = item.removeprefix(_RECORD)
            await self._retry(lambda: self.store.delete(name))
        else:
            await self._retry(lambda: self.store.delete_group(item))
        self.records_deleted += 1

    async def _retry(self, call: Callable[[], Awaitable[None]]) -> None:
        backoff = self.backoff_initial
        while True:
            try:
                await call()
            except ContinuumError as exc:
                self._failed(str(exc))
                await self.clock.sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max)
                continue
            self._recovered_ok()
            return

    def _failed(self, error: str) -> None:
        if not self.store_failing or error != self.last_error:
            log.warning("audit_outbox_store_failed", error=error)
        self.store_failing = True
        self.last_error = error
        if self._on_store_error is not None:
            self._on_store_error(error)

    def _recovered_ok(self) -> None:
        if self.store_failing:
            log.info("audit_outbox_store_recovered")
        self.store_failing = False
