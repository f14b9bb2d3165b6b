"""One task for the timers of every actor of a host: a heap of deadlines instead of a task each.

A controller with N Continuums has N repeating timers (each actor's renew-then-observe tick).
As a task each, every timer cost a task, a coroutine frame and a cancel scope (about 3 KiB),
and every tick a task switch and a sleep. :class:`TimerQueue` keeps them in one heap, served
by one task that sleeps until the earliest deadline and puts each due timer's message in its
actor's mailbox.

Semantics are those of a task per timer (``ActorContext.start_timer``): the message is sent at
the deadline by the clock; a repeating timer's next deadline is the previous one plus its
delay, and one that fell behind skips the missed ticks (next = now + delay) instead of
bunching them; a cancelled timer sends nothing more (a message already sent stays in the
mailbox). A full mailbox never stalls the other timers: that one timer waits for room in a
task of its own, as it did before, and goes on from there. The serving task ends when no timer
is left, so a host with no timers has no task for them.

**The grid** (``grid`` seconds, :data:`ACTOR_TIMER_GRID` by default: 0, exact). With a grid
``g > 0`` a timer's message is sent at the first multiple of ``g`` (on the clock's monotonic
time) at or after its exact deadline: never earlier than the deadline, at most ``g`` later.
Timers due within the same ``g`` then fire in one batch of the serving task, so the actors'
work (a thousand CRs renewing every 10 s) starts together and their I/O leaves in few socket
writes instead of one wake-up and one write per timer. A repeating timer keeps its exact
schedule underneath (deadline ``k`` is ``start + k·delay``, rounded up), so the grid never
makes it drift; the skip rule compares the exact deadline with the clock. The controller uses
a 50 ms grid (:mod:`continuum.controller`); tests and the runtime default to exact timers.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import msgspec
from anyio.streams.memory import MemoryObjectSendStream

from continuum.ports import Clock

if TYPE_CHECKING:
    from continuum.actors.host import ActorHost

__all__ = ["ACTOR_TIMER_GRID", "Timer", "TimerQueue", "on_grid"]

ACTOR_TIMER_GRID = 0.0
"""The default grid of a host's timers, in seconds: 0 = exact deadlines (module docstring)."""

_BATCH = 256
"""Timers fired in a row before the serving task lets other tasks run."""

_SendFailed = (anyio.ClosedResourceError, anyio.BrokenResourceError)


def on_grid(deadline: float, grid: float) -> float:
    """The first multiple of ``grid`` at or after ``deadline`` (``deadline`` itself when
    ``grid`` is 0). Never less than ``deadline``, even where float rounding of the product
    would make it so; less than ``deadline + grid`` up to that rounding."""
    if grid <= 0:
        return deadline
    rounded = math.ceil(deadline / grid) * grid
    if rounded < deadline:  # the product came out one unit in the last place short
        rounded += grid
    return rounded


class Timer:
    """One timer of an actor: sends ``message`` to ``mailbox`` at ``deadline`` (then every
    ``delay`` seconds if ``repeat``) until cancelled."""

    __slots__ = (
        "_queue",
        "cancelled",
        "deadline",
        "delay",
        "due",
        "mailbox",
        "message",
        "on_done",
        "repeat",
        "scope",
    )

    def __init__(
        self,
        queue: TimerQueue,
        *,
        mailbox: MemoryObjectSendStream[object],
        due: float,
        deadline: float,
        delay: float,
        message: msgspec.Struct,
        repeat: bool,
    ) -> None:
        self._queue = queue
        self.mailbox = mailbox
        self.due = due
        """The exact deadline of the next message (the schedule)."""
        self.deadline = deadline
        """When the next message is sent: ``due`` rounded up to the queue's grid."""
        self.delay = delay
        self.message = message
        self.repeat = repeat
        self.cancelled = False
        self.on_done: Callable[[], object] | None = None
        """Called (no arguments) once the timer is over because it fired (once) or its
        mailbox closed; not on :meth:`cancel`. Set by the owner."""
        self.scope: anyio.CancelScope | None = None
        """Only while waiting for room in a full mailbox."""

    def cancel(self) -> None:
        """Send nothing more. Idempotent."""
        if not self.cancelled:
            self.cancelled = True
            if self.scope is not None:
                self.scope.cancel()
            self._queue._retired()


class TimerQueue:
    """The timers of one host on one clock, served by one task (see the module docstring);
    deadlines rounded up to ``grid`` seconds (0: exact)."""

    def __init__(self, host: ActorHost, clock: Clock, *, grid: float = ACTOR_TIMER_GRID) -> None:
        if grid < 0 or not math.isfinite(grid):
            raise ValueError(f"timer grid must be a finite number >= 0, not {grid}")
        self._host = host
        self._clock = clock
        self.grid = grid
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._live = 0
        self._serving = False
        self._sleep: anyio.CancelScope | None = None
        self._sleeping_until = math.inf

    @property
    def live(self) -> int:
        """Timers not over yet."""
        return self._live

    def start(
        self,
        mailbox: MemoryObjectSendStream[object],
        *,
        delay: float,
        message: msgspec.Struct,
        repeat: bool,
    ) -> Timer:
        """A new timer sending ``message`` to ``mailbox`` in ``delay`` seconds (then every
        ``delay`` if ``repeat``), each sent on the queue's grid."""
        due = self._clock.monotonic() + delay
        timer = Timer(
            self,
            mailbox=mailbox,
            due=due,
            deadline=on_grid(due, self.grid),
            delay=delay,
            message=message,
            repeat=repeat,
        )
        self._live += 1
        self._push(timer)
        return timer

    def _push(self, timer: Timer) -> None:
        heapq.heappush(self._heap, (timer.deadline, next(self._seq), timer))
        if not self._serving:
            self._serving = True
            self._host.start_soon(self._serve, name="actor-timers")
        elif timer.deadline < self._sleeping_until and self._sleep is not None:
            self._sleep.cancel()  # wake up earlier

    def _retired(self) -> None:
        self._live -= 1
        if self._live == 0 and self._sleep is not None:
            self._sleep.cancel()  # nothing left: let the serving task end

    async def _serve(self) -> None:
        heap, clock = self._heap, self._clock
        try:
            while self._live > 0:
                while heap and heap[0][2].cancelled:
                    heapq.heappop(heap)
                if not heap:  # every live timer waits for room in a mailbox
                    with anyio.CancelScope() as self._sleep:
                        await anyio.sleep_forever()
                    self._sleep = None
                    continue
                deadline = heap[0][0]
                if deadline > clock.monotonic():
                    with anyio.CancelScope() as self._sleep:
                        self._sleeping_until = deadline
                        await clock.sleep_until(deadline)
                    self._sleep, self._sleeping_until = None, math.inf
                    continue
                now = clock.monotonic()
                fired = 0
                while heap and heap[0][0] <= now and fired < _BATCH:
                    timer = heapq.heappop(heap)[2]
                    if not timer.cancelled:
                        self._fire(timer)
                        fired += 1
                await anyio.lowlevel.checkpoint()
        finally:
            self._serving = False
            self._sleep, self._sleeping_until = None, math.inf
            if self._live == 0:
                heap.clear()

    def _fire(self, timer: Timer) -> None:
        try:
            timer.mailbox.send_nowait(timer.message)
        except anyio.WouldBlock:
            self._host.start_soon(self._send_when_room, timer, name="actor-timer-full")
            return
        except _SendFailed:
            self._over(timer)
            return
        self._sent(timer)

    def _sent(self, timer: Timer) -> None:
        if not timer.repeat:
            self._over(timer)
            return
        timer.due += timer.delay
        if timer.due <= (now := self._clock.monotonic()):
            timer.due = now + timer.delay
        timer.deadline = on_grid(timer.due, self.grid)
        self._push(timer)

    def _over(self, timer: Timer) -> None:
        if not timer.cancelled:
            timer.cancelled = True
            self._retired()
        if timer.on_done is not None:
            timer.on_done()

    async def _send_when_room(self, timer: Timer) -> None:
        """A full mailbox: wait for room (or the timer's cancel), then go on as usual."""
        with anyio.CancelScope() as timer.scope:
            try:
                await timer.mailbox.send(timer.message)
            except _SendFailed:
                self._over(timer)
                return
        timer.scope = None
        if timer.cancelled:
            return
        self._sent(timer)
