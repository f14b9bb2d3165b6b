"""Timeouts on the injected clock.

``anyio.fail_after`` measures the event loop's time, which a :class:`~continuum.clock.FakeClock`
does not move; :func:`with_timeout` races the work against ``clock.sleep`` instead, so a 60 s
bound takes no real time in tests. On the :class:`~continuum.clock.SystemClock` (whose time is
the loop's) it uses a cancel scope deadline: no watchdog task per call, which every renewal of
every CR would otherwise pay for; on a :class:`~continuum.clock.FakeClock` with ``alarms`` an
alarm (:meth:`~continuum.clock.FakeClock.call_at`) cancels the scope, no task either.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from continuum.clock import FakeClock, SystemClock
from continuum.ports import Clock

T = TypeVar("T")

__all__ = ["with_timeout"]


async def with_timeout(clock: Clock, seconds: float, fn: Callable[[], Awaitable[T]]) -> T:
    """Run ``fn()`` and return its result, or raise ``TimeoutError`` once ``seconds`` of
    ``clock`` time have passed (``fn`` is then cancelled and has been unwound).

    ``fn``'s own exceptions propagate unchanged (never wrapped in an ExceptionGroup). An
    outer cancellation cancels ``fn`` and propagates. When ``fn`` finishes at the same
    instant the bound fires, its result wins.
    """
    if type(clock) is SystemClock:
        with anyio.move_on_after(seconds):
            return await fn()
        raise TimeoutError(f"timed out after {seconds:g}s")
    scope = anyio.CancelScope()
    outcome: list[T] = []
    failure: list[Exception] = []
    if isinstance(clock, FakeClock) and clock.alarms:
        # The bound as an alarm on the fake clock: no watchdog task per call (the
        # deterministic simulator makes hundreds of thousands of bounded calls).
        alarm = clock.call_at(clock.monotonic() + seconds, scope.cancel)
        try:
            with scope:
                try:
                    outcome.append(await fn())
                except Exception as exc:
                    failure.append(exc)
        finally:
            alarm.cancel()
        if failure:
            raise failure[0]
        if outcome:
            return outcome[0]
        raise TimeoutError(f"timed out after {seconds:g}s")

    async def watchdog() -> None:
        await clock.sleep(seconds)
        scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(watchdog)
        with scope:
            try:
                outcome.append(await fn())
            except Exception as exc:
                failure.append(exc)
        tg.cancel_scope.cancel()
    if failure:
        raise failure[0]
    if outcome:
        return outcome[0]
    raise TimeoutError(f"timed out after {seconds:g}s")
