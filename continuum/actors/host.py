"""ActorHost: the task group actors, timers and child tasks run in."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVarTuple

import anyio
from anyio.abc import TaskGroup, TaskStatus

from continuum.actors.timers import ACTOR_TIMER_GRID, TimerQueue
from continuum.ports import Clock

Ts = TypeVarTuple("Ts")


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

    def timer_queue(self, clock: Clock) -> TimerQueue:
        """The queue serving every timer of this host's actors on ``clock`` (one task for all
        of them; see :mod:`continuum.actors.timers`)."""
        queue = self._timers.get(id(clock))
        if queue is None:
            queue = self._timers[id(clock)] = TimerQueue(self, clock, grid=self.timer_grid)
        return queue

    async def __aenter__(self) -> ActorHost:
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

    def start_soon(
        self, func: Callable[[*Ts], Coroutine[Any, Any, object]], *args: *Ts, name: object = None
    ) -> None:
        """Start ``func(*args)`` as a task of the host."""
        if self._inner is None:
            raise RuntimeError("ActorHost is not entered")
        self._inner.start_soon(func, *args, name=name)
