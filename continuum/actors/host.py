"""ActorHost: the task group actors, timers and child tasks run in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVarTuple

import anyio
import sniffio
import structlog
from anyio.abc import TaskGroup, TaskStatus

from continuum.actors.timers import ACTOR_TIMER_GRID, TimerQueue
from continuum.ports import Clock

Ts = TypeVarTuple("Ts")

log = structlog.get_logger("continuum.actors")


class ActorHost:
    """A task group whose tasks are shielded from cancellation of the code around it.

    Actors, their timers and child tasks run here, so that cancelling the owner (SIGTERM,
    a supervisor escalating) never tears an actor down mid-message: each task ends only when
    it returns or its own cancel scope is cancelled. Leaving the ``async with`` waits for every
    task, so the owner must stop them first. Exceptions of the block propagate unwrapped.

    ``timer_grid``: the grid (seconds) the host's timer queues round deadlines up to
    (:mod:`continuum.actors.timers`; 0 = exact).
    """

    def __init__(self, *, timer_grid: float = ACTOR_TIMER_GRID) -> None:
        self.timer_grid = timer_grid
        self._outer: TaskGroup | None = None
        self._inner: TaskGroup | None = None
        self._release = anyio.Event()
        self._timers: dict[int, TimerQueue] = {}
        self._asyncio = False
        self._bare: set[asyncio.Task[object]] = set()
        self._bare_done: asyncio.Event | None = None

    def timer_queue(self, clock: Clock) -> TimerQueue:
        """The queue serving every timer of this host's actors on ``clock`` (one task for all
        of them; see :mod:`continuum.actors.timers`)."""
        queue = self._timers.get(id(clock))
        if queue is None:
            queue = self._timers[id(clock)] = TimerQueue(self, clock, grid=self.timer_grid)
        return queue

    async def __aenter__(self) -> ActorHost:
        self._asyncio = sniffio.current_async_library() == "asyncio"
        outer = anyio.create_task_group()
        await outer.__aenter__()
        self._outer = outer
        self._inner = await outer.start(self._host)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release.set()
        assert self._outer is not None
        await self._outer.__aexit__(None, None, None)

    async def _host(self, *, task_status: TaskStatus[TaskGroup]) -> None:
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as inner:
                task_status.started(inner)
                await self._release.wait()
                while self._bare:  # bare tasks are the host's too: wait for them as well
                    self._bare_done = asyncio.Event()
                    await self._bare_done.wait()

    def start_soon(
        self, func: Callable[[*Ts], Coroutine[Any, Any, object]], *args: *Ts, name: object = None
    ) -> None:
        """Start ``func(*args)`` as a task of the host."""
        if self._inner is None:
            raise RuntimeError("ActorHost is not entered")
        self._inner.start_soon(func, *args, name=name)

    def start_bare(
        self, func: Callable[[*Ts], Coroutine[Any, Any, object]], *args: *Ts, name: str
    ) -> None:
        """Start ``func(*args)`` as a task of the host that costs what a task costs: on
        asyncio a plain ``asyncio.Task`` (no task-group bookkeeping; an actor's child task
        per renewal made anyio's ``start_soon`` a visible share of a busy controller's CPU),
        elsewhere the same as :meth:`start_soon`.

        Same guarantees as :meth:`start_soon` but one: the task is outside any cancel scope
        of the host's owner (so cancelling the owner never cancels it; it may open cancel
        scopes of its own), and leaving the host waits for it. The difference: an exception
        it raises does not tear the host down; it is logged (``bare_task_failed``), so
        ``func`` must handle its own errors (as ``ActorCell``'s children do, turning them into
        messages)."""
        if self._inner is None:
            raise RuntimeError("ActorHost is not entered")
        if not self._asyncio:
            self._inner.start_soon(func, *args, name=name)
            return
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(func(*args), name=name)
        self._bare.add(task)
        task.add_done_callback(self._bare_ended)

    def _bare_ended(self, task: asyncio.Task[object]) -> None:
        self._bare.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("bare_task_failed", task=task.get_name(), error=repr(error), exc_info=error)
        if not self._bare and self._bare_done is not None:
            self._bare_done.set()
