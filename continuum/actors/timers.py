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

__all__ = ["Timer", "TimerQueue"]

_BATCH = 256
"""Timers fired in a row before the serving task lets other tasks run."""

_SendFailed = (anyio.ClosedResourceError, anyio.BrokenResourceError)


class Timer:
    """One timer of an actor: sends ``message`` to ``mailbox`` at ``deadline`` (then every
    ``delay`` seconds if ``repeat``) until cancelled."""

    __slots__ = (
        "_queue",
        "cancelled",
        "deadline",
        "delay",
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
        deadline: float,
        delay: float,
        message: msgspec.Struct,
        repeat: bool,
    ) -> None:
        self._queue = queue
        self.mailbox = mailbox
        self.deadline = deadline
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
    """The timers of one host on one clock, served by one task (see the module docstring)."""

    def __init__(self, host: ActorHost, clock: Clock) -> None:
        self._host = host
        self._clock = clock
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
        ``delay`` if ``repeat``)."""
        timer = Timer(
            self,
            mailbox=mailbox,
            deadline=self._clock.monotonic() + delay,
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
        timer.deadline += timer.delay
        if timer.deadline <= (now := self._clock.monotonic()):
            timer.deadline = now + timer.delay
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
