"""The write queue: how many routine writes the ContinuumActors of one process have in flight
to the Kubernetes API at once (``docs/decisions.md`` #33).

The routine writes — a CR's status and its finalizer — are made from child tasks, never in
the mailbox. Without a bound, thousands of actors starting together each sent theirs at once:
they queued for the client's connection pool, whose wait counts against each request's 5 s
timeout, so most timed out unsent, were retried later, and the retries cost the CPU the
renewals needed. The queue admits at most ``concurrency`` at a time, first come, first
served; a write's timeout starts when it is admitted, so waiting in the queue makes it late,
never failed. The writes a step waits for (the journal before a step) do not queue.

In a controller the queue also *yields to start-ups* (``yield_to``, the process's start
gate): no routine write is admitted while actors are starting, so a takeover's start-ups
(witness reads and compare-and-sets) do not share the CPU and the API server with the
first writes of a fleet still draining.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from continuum.actors.continuum.slots import Slots
from continuum.actors.continuum.startup import StartGate

__all__ = ["WRITE_CONCURRENCY", "WriteQueue"]

WRITE_CONCURRENCY = 32
"""Routine writes in flight at once in one process (the client's pool has 100 connections,
shared with every read)."""


class WriteQueue:
    """At most ``concurrency`` routine writes at once, shared by every actor of a process.
    Raises ``ValueError`` for a ``concurrency`` below 1."""

    def __init__(
        self, concurrency: int = WRITE_CONCURRENCY, *, yield_to: StartGate | None = None
    ) -> None:
        self._slots = Slots(concurrency)
        self._gate = yield_to

    @property
    def concurrency(self) -> int:
        return self._slots.capacity

    @property
    def writing(self) -> int:
        """Writes admitted and not finished."""
        return self._slots.in_use

    @property
    def waiting(self) -> int:
        """Writes waiting for a slot."""
        return self._slots.waiting

    @property
    def crowded(self) -> bool:
        """As many writes wait as the queue has slots, or start-ups are under way: a new
        routine write is then better made later (at the actor's next renewal) than queued
        now — each queued write is a task waiting (about 8 KiB), and thousands of actors
        starting at once would each queue two."""
        if self._gate is not None and self._gate.under_way:
            return True
        return self._slots.waiting >= self._slots.capacity

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait (untimed) for a free slot, then until no start-up of ``yield_to`` is under
        way; hold the slot for the block. (Checked once the slot is held, so that writes
        queued before a takeover began wait for its start-ups too.)"""
        async with self._slots.held():
            if self._gate is not None:
                await self._gate.quiet()
            yield
