"""Clocks: the real one, and a fake one for tests that advances instantly.

Every wait in Continuum goes through a :class:`~continuum.ports.Clock`, so a test of 10 s
renewals or a 30 s health delay runs in milliseconds on :class:`FakeClock`.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
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
        alarms: bool = False,
    ) -> None:
        self.alarms = alarms
        """Bounded calls on this clock (:func:`~continuum.switchover.timeouts.with_timeout`)
        arm an alarm (:meth:`call_at`) instead of a watchdog task: no task per call, and a
        deadline the clock jumps past cancels the call at once rather than one loop turn
        later. For the deterministic simulator, whose every step makes bounded calls; tests
        that interleave fake time with real I/O keep the watchdog's scheduling."""
        self._start = start
        self._now = start
        self._wall_start = wall_start
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, anyio.Event | _Alarm]] = []
        self._arm_watchers: list[anyio.Event] = []  # tasks in wait_armed

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
        if self._arm_watchers:
            self._armed_one()
        try:
            await event.wait()
        finally:
            if not event.is_set():
                # Cancelled before waking: drop our entry so it never counts as pending.
                self._sleepers.remove(entry)
                heapq.heapify(self._sleepers)

    def call_at(self, deadline: float, callback: Callable[[], object]) -> _Alarm:
        """Call ``callback`` (synchronously, from :meth:`advance` and its kin) once the clock
        reaches ``deadline``, unless the returned alarm is cancelled first. It counts as a
        sleeper (:attr:`pending`, :meth:`next_deadline`) until it fires or is cancelled: what
        :func:`~continuum.switchover.timeouts.with_timeout` waits on instead of a watchdog
        task, so a bounded call on fake time costs no task."""
        alarm = _Alarm(self, callback)
        if deadline <= self._now:
            alarm.entry = None
            callback()
            return alarm
        alarm.entry = (deadline, next(self._seq), alarm)
        heapq.heappush(self._sleepers, alarm.entry)
        if self._arm_watchers:
            self._armed_one()
        return alarm

    def _drop(self, entry: tuple[float, int, anyio.Event | _Alarm]) -> None:
        self._sleepers.remove(entry)
        heapq.heapify(self._sleepers)

    @property
    def pending(self) -> int:
        """Number of tasks sleeping on this clock."""
        return len(self._sleepers)

    def next_deadline(self) -> float | None:
        """The earliest pending deadline, or ``None`` when nobody sleeps."""
        return self._sleepers[0][0] if self._sleepers else None

    def armed(self, by: float) -> bool:
        """Whether a sleeper or alarm due at or before ``by`` (clock time) is pending."""
        return bool(self._sleepers) and self._sleepers[0][0] <= by

    async def wait_armed(self, by: float) -> None:
        """Return once a sleeper or alarm due at or before ``by`` is pending (:meth:`armed`).

        A test awaits this before advancing past a deadline that another task arms (a
        shutdown bound, a timeout), so the advance can never run before the deadline exists.
        ``anyio.wait_all_tasks_blocked`` does not promise that on asyncio when two tasks call
        it at once: it polls with a real ``sleep(0.1)``, and each caller takes the other's
        poll for blocked. Driven by the clock (woken when a sleeper or alarm is added), not
        by polling or real time."""
        while not self.armed(by):
            armed = anyio.Event()
            self._arm_watchers.append(armed)
            try:
                await armed.wait()
            finally:
                if armed in self._arm_watchers:  # cancelled before anything was armed
                    self._arm_watchers.remove(armed)

    def _armed_one(self) -> None:
        watchers, self._arm_watchers = self._arm_watchers, []
        for armed in watchers:
            armed.set()

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
            if isinstance(event, _Alarm):
                event.fire()
            else:
                event.set()


class _Alarm:
    """A callback due at a deadline of a :class:`FakeClock` (:meth:`FakeClock.call_at`)."""

    __slots__ = ("_callback", "_clock", "entry")

    def __init__(self, clock: FakeClock, callback: Callable[[], object]) -> None:
        self._clock = clock
        self._callback = callback
        self.entry: tuple[float, int, anyio.Event | _Alarm] | None = None

    def fire(self) -> None:
        self.entry = None
        self._callback()

    def cancel(self) -> None:
        """Never call back. Idempotent; nothing once it fired."""
        if self.entry is not None:
            self._clock._drop(self.entry)
            self.entry = None
