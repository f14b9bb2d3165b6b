"""The start gate: how many ContinuumActors start at once, and how their starts are spread.

A controller starting over thousands of CRs would otherwise run every actor's start-up
(witness read and acquire, the first status write, the first audit events) at the same
instant: a burst on the witness and the API server, and every request of the burst
queued behind all the others, so the *last* lease is acquired late. The gate admits at most
``concurrency`` start-ups at a time (first come, first served), each after a random delay
in ``[0, jitter_seconds)`` on the injected clock.

A start-up has two parts, each bounded the same way. Its witness round trips run inside
:meth:`StartGate.admitted`; the rest (status writes, audit events, the first observation)
inside :meth:`StartGate.rest`, which first waits until the gate is *quiet* (no start-up
waiting for or inside admission), then for one of ``REST_FACTOR × concurrency`` slots;
both waits together last at most ``QUIET_AT_MOST_SECONDS``. So when a replica takes over a
dead peer's CRs, or a controller starts cold, every lease is refreshed before the event
loop spends itself on the start-ups' API writes, and those writes are still paced (not
the thundering herd of every tail released at once, which starved a sharded replica's
membership into a fence at 20,000 CRs), yet no actor's renewal timers wait for them longer
than the bound. Once started, an actor renews on its own timers.

With sharding the gate can be *held* (:meth:`StartGate.hold`): the shard membership holds it
while its renewals run late, and admission then trickles (``held_concurrency`` at once,
default a sixteenth of ``concurrency``) so start-ups cannot keep the event loop from
renewing the replica's membership, yet never stop altogether (``docs/decisions.md`` #23).
Start-ups already admitted finish.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio

from continuum.ports import Clock
from continuum.switchover.timeouts import with_timeout

__all__ = [
    "QUIET_AT_MOST_SECONDS",
    "REST_FACTOR",
    "START_CONCURRENCY",
    "START_JITTER_SECONDS",
    "StartGate",
]

START_CONCURRENCY = 64
"""Start-ups in flight at once in one process (each holds a few witness and API requests)."""

START_JITTER_SECONDS = 0.5
"""Spread of the start-ups of CRs seen together (a controller start, a relist)."""

REST_FACTOR = 2
"""How many more rests of start-ups than witness round trips run at once (a rest makes
several sequential API round trips). The wait for a slot is bounded too
(:meth:`StartGate.rest`): with 64 slots and no bound a takeover of 5,000 CRs queued its
tails, and so their first renewal timers, for up to 157 s on a loaded machine."""

QUIET_AT_MOST_SECONDS = 10.0
"""The longest :meth:`StartGate.quiet` waits (a steady stream of new CRs never keeps the
rest of a start-up from running for longer than one default renew period)."""


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
        self._limiter: anyio.CapacityLimiter | None = None  # made in the event loop
        self._rest_limiter: anyio.CapacityLimiter | None = None
        self._held = False
        self._pending = 0
        """Start-ups inside :meth:`admitted` (waiting out the jitter, for a slot, or in)."""
        self._quiet: anyio.Event | None = None
        """Set (and dropped) when ``_pending`` falls to 0 while someone waits in quiet()."""
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
        if self._limiter is not None:
            self._limiter.total_tokens = self._capacity()
        if self._rest_limiter is not None:
            self._rest_limiter.total_tokens = self._capacity() * REST_FACTOR

    def _capacity(self) -> int:
        return self.held_concurrency if self._held else self.concurrency

    @property
    def starting(self) -> int:
        """Start-ups admitted and not finished."""
        return 0 if self._limiter is None else int(self._limiter.borrowed_tokens)

    @property
    def waiting(self) -> int:
        """Start-ups waiting for admission."""
        return 0 if self._limiter is None else self._limiter.statistics().tasks_waiting

    @asynccontextmanager
    async def admitted(self, clock: Clock) -> AsyncIterator[None]:
        """Wait for the jitter (on ``clock``), then for a free slot; hold it for the block."""
        self._pending += 1
        try:
            if self.jitter_seconds:
                await clock.sleep(self.jitter_seconds * self._fraction())
            if self._limiter is None:
                self._limiter = anyio.CapacityLimiter(self._capacity())
            async with self._limiter:  # the borrower is the calling task (one per actor)
                yield
        finally:
            self._pending -= 1
            if self._pending == 0 and self._quiet is not None:
                self._quiet.set()
                self._quiet = None

    @asynccontextmanager
    async def rest(
        self, clock: Clock, *, at_most: float = QUIET_AT_MOST_SECONDS
    ) -> AsyncIterator[None]:
        """Wait until the gate is quiet (:meth:`quiet`), then for a slot of the rest of the
        start-ups (``REST_FACTOR`` times as many as :meth:`admitted` has, fewer too while
        held); hold it for the block. Both waits together last at most ``at_most`` seconds
        of ``clock``: past it the block runs without a slot, so the actor's renewal timers,
        which start in the block, never wait longer than that (a queue of thousands of
        tails must not outlast the witness TTL). Use it after :meth:`admitted`, never
        inside it."""
        deadline = clock.monotonic() + at_most
        await self.quiet(clock, at_most=at_most)
        if self._rest_limiter is None:
            self._rest_limiter = anyio.CapacityLimiter(self._capacity() * REST_FACTOR)
        limiter = self._rest_limiter
        slot = False
        remaining = deadline - clock.monotonic()
        if limiter.available_tokens >= 1:
            await limiter.acquire()
            slot = True
        elif remaining > 0:
            with contextlib.suppress(TimeoutError):
                await with_timeout(clock, remaining, limiter.acquire)
                slot = True
        try:
            yield
        finally:
            if slot:
                limiter.release()

    @property
    def pending(self) -> int:
        """Start-ups inside :meth:`admitted`: waiting out their jitter, for a slot, or in."""
        return self._pending

    async def quiet(self, clock: Clock, *, at_most: float = QUIET_AT_MOST_SECONDS) -> None:
        """Return once no start-up is inside :meth:`admitted` (at once when none is), or
        after ``at_most`` seconds of ``clock``, whichever comes first. Never raises but for
        cancellation. Call it outside :meth:`admitted` (inside, it waits for itself until
        ``at_most``)."""
        if self._pending == 0:
            return
        if self._quiet is None:
            self._quiet = anyio.Event()
        event = self._quiet
        with contextlib.suppress(TimeoutError):
            await with_timeout(clock, at_most, event.wait)
