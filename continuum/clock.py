"""Clocks: the real one, and a fake one for tests that advances instantly.

Every wait in Continuum goes through a :class:`~continuum.ports.Clock`, so a test of 10 s
renewals or a 30 s health delay runs in milliseconds on :class:`FakeClock`.
"""

from __future__ import annotations

import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta

import anyio


class SystemClock:
    """Real time: ``time.monotonic`` for intervals, UTC wall time for timestamps."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

    async def sleep_until(self, deadline: float) -> None:
        await anyio.sleep(max(0.0, deadline - time.monotonic()))


class FakeClock:
    """Virtual time for tests, on either anyio backend.

    Time moves only when told: :meth:`advance` moves it at once and wakes every sleeper whose
    deadline has passed; :meth:`advance_settled` walks deadline by deadline, letting woken
    tasks run (``anyio.wait_all_tasks_blocked``) before the next, so periodic work scheduled
    on the fake clock happens exactly as often as it would in real time. :meth:`autojump`,
    run as a background task, jumps to the next deadline whenever every task is blocked
    (trio's ``MockClock(autojump_threshold=0)``). Wall time moves with monotonic time.
    """

    def __init__(
        self,
        *,
        start: float = 1_000.0,
        wall_start: datetime = datetime(2026, 1, 1, tzinfo=UTC),
    ) -> None:
        self._start = start
        self._now = start
        self._wall_start = wall_start
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, anyio.Event]] = []

    def monotonic(self) -> float:
        return self._now

    def now(self) -> datetime:
        return self._wall_start + timedelta(seconds=self._now - self._start)

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self._now + max(0.0, seconds))

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        entry = (deadline, next(self._seq), event)
        heapq.heappush(self._sleepers, entry)
        try:
            await event.wait()
        finally:
            if not event.is_set():
                # Cancelled before waking: drop our entry so it never counts as pending.
                self._sleepers.remove(entry)
                heapq.heapify(self._sleepers)

    @property
    def pending(self) -> int:
        """Number of tasks sleeping on this clock."""
        return len(self._sleepers)

    def next_deadline(self) -> float | None:
        """The earliest pending deadline, or ``None`` when nobody sleeps."""
        return self._sleepers[0][0] if self._sleepers else None

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` at once and wake every sleeper now due."""
        if seconds < 0:
            raise ValueError("time never goes backwards")
        self._now += seconds
        self._wake_due()

    async def advance_settled(self, seconds: float) -> None:
        """Move forward by ``seconds`` one deadline at a time, letting the woken tasks run
        (until every task is blocked) before moving on."""
        target = self._now + seconds
        await anyio.wait_all_tasks_blocked()
        while self._sleepers and self._sleepers[0][0] <= target:
            self._now = max(self._now, self._sleepers[0][0])
            self._wake_due()
            await anyio.wait_all_tasks_blocked()
        self._now = max(self._now, target)
        self._wake_due()
        await anyio.wait_all_tasks_blocked()

    async def autojump(self, *, threshold: float = 0.0) -> None:
        """Run forever (as a background task): whenever all tasks are blocked and someone
        sleeps on this clock, jump to the earliest deadline. ``threshold`` (real seconds) is
        how long everything must stay blocked first, for tests that also wait on real I/O."""
        while True:
            await anyio.wait_all_tasks_blocked()
            if threshold:
                await anyio.sleep(threshold)
                await anyio.wait_all_tasks_blocked()
            if self._sleepers:
                self._now = max(self._now, self._sleepers[0][0])
                self._wake_due()
            else:
                await anyio.sleep(threshold or 0.0005)

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, event = heapq.heappop(self._sleepers)
            event.set()
