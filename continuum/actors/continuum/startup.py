"""The start gate: how many ContinuumActors start at once, and how their starts are spread.

A controller starting over thousands of CRs would otherwise run every actor's start-up
(witness read and acquire, the first status write, the first audit events) at the same
instant: a burst on the witness and the API server, and every request of the burst
queued behind all the others, so the *last* lease is acquired late. The gate admits at most
``concurrency`` start-ups at a time (first come, first served), each after a random delay
in ``[0, jitter_seconds)`` on the injected clock.

The gate bounds start-ups only: once started, an actor renews on its own timers.

With sharding the gate can be *held* (:meth:`StartGate.hold`): the shard membership holds it
while its renewals run late, and admission then trickles (``held_concurrency`` at once,
default a sixteenth of ``concurrency``) so start-ups cannot keep the event loop from
renewing the replica's membership, yet never stop altogether (``docs/decisions.md`` #23).
Start-ups already admitted finish.

:meth:`StartGate.quiet` returns once no start-up is under way: the process's write queue
(``write_queue.py``) waits on it, so a takeover's start-ups do not share the CPU and the API
server with routine writes (``docs/decisions.md`` #33).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio

from continuum.actors.continuum.slots import Slots
from continuum.ports import Clock

__all__ = ["START_CONCURRENCY", "START_JITTER_SECONDS", "StartGate"]

START_CONCURRENCY = 64
"""Start-ups in flight at once in one process (each holds a few witness and API requests)."""

START_JITTER_SECONDS = 0.5
"""Spread of the start-ups of CRs seen together (a controller start, a relist)."""


class StartGate:
    """Admits start-ups: at most ``concurrency`` at once (``held_concurrency`` while held),
    each after a random delay below ``jitter_seconds`` (0: none). One gate per process,
    shared by every actor.

    Raises ``ValueError`` for a ``concurrency`` below 1, a negative jitter or a
    ``held_concurrency`` outside ``1..concurrency``."""

    def __init__(
        self,
        *,
        concurrency: int = START_CONCURRENCY,
        jitter_seconds: float = 0.0,
        random_fraction: Callable[[], float] = random.random,
        held_concurrency: int | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"start concurrency must be at least 1, not {concurrency}")
        if jitter_seconds < 0:
            raise ValueError(f"start jitter must not be negative, not {jitter_seconds}")
        self.concurrency = concurrency
        self.jitter_seconds = jitter_seconds
        self._fraction = random_fraction
        self.held_concurrency = (
            max(1, concurrency // 16) if held_concurrency is None else held_concurrency
        )
        if not 1 <= self.held_concurrency <= concurrency:
            raise ValueError(
                f"held concurrency must be within 1..{concurrency}, not {self.held_concurrency}"
            )
        self._slots = Slots(concurrency)
        self._under_way = 0  # start-ups inside admitted(): jitter, waiting or running
        self._quiet: anyio.Event | None = None  # set when the last of them leaves
        self._held = False
        self.holds = 0
        """How many times the gate was held (metrics, tests)."""

    @property
    def held(self) -> bool:
        """Admission trickles (:meth:`hold`)."""
        return self._held

    def hold(self, held: bool) -> None:
        """Hold (``True``: at most ``held_concurrency`` start-ups at once from now on) or
        reopen (``False``) admission. Idempotent; call it from the event loop's thread."""
        if held == self._held:
            return
        self._held = held
        self.holds += held
        self._slots.resize(self._capacity())

    def _capacity(self) -> int:
        return self.held_concurrency if self._held else self.concurrency

    @property
    def starting(self) -> int:
        """Start-ups admitted and not finished."""
        return self._slots.in_use

    @property
    def waiting(self) -> int:
        """Start-ups waiting for admission."""
        return self._slots.waiting

    @asynccontextmanager
    async def admitted(self, clock: Clock) -> AsyncIterator[None]:
        """Wait for the jitter (on ``clock``), then for a free slot; hold it for the block."""
        self._under_way += 1
        try:
            if self.jitter_seconds:
                await clock.sleep(self.jitter_seconds * self._fraction())
            async with self._slots.held():  # the borrower is the calling task (one per actor)
                yield
        finally:
            self._under_way -= 1
            if not self._under_way and self._quiet is not None:
                self._quiet.set()
                self._quiet = None

    @property
    def under_way(self) -> int:
        """Start-ups inside :meth:`admitted` (waiting for the jitter or a slot, or admitted)."""
        return self._under_way

    async def quiet(self) -> None:
        """Return once no start-up is under way (waiting for the jitter or a slot, or
        admitted); at once when none is. What yields to start-ups waits on this."""
        while self._under_way:
            if self._quiet is None:
                self._quiet = anyio.Event()
            await self._quiet.wait()
