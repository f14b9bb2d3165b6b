"""with_timeout runs on the injected clock, not the event loop's."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from continuum.clock import FakeClock, SystemClock
from continuum.switchover.timeouts import with_timeout

pytestmark = pytest.mark.anyio


async def test_result_is_returned_when_work_finishes_in_time() -> None:
    clock = FakeClock()

    async def work() -> int:
        await clock.sleep(1)
        return 7

    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.autojump)
        assert await with_timeout(clock, 5, work) == 7
        tg.cancel_scope.cancel()


async def test_timeout_fires_after_clock_time_without_real_waiting() -> None:
    clock = FakeClock()
    t0 = clock.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.autojump)
        with pytest.raises(TimeoutError):
            await with_timeout(clock, 60, anyio.sleep_forever)
        tg.cancel_scope.cancel()
    assert clock.monotonic() - t0 == pytest.approx(60)


async def test_errors_of_the_work_propagate_unwrapped() -> None:
    clock = FakeClock()

    async def boom() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        await with_timeout(clock, 5, boom)


async def test_on_the_system_clock_the_bound_is_a_deadline_with_the_same_contract() -> None:
    clock = SystemClock()

    async def work() -> int:
        await anyio.lowlevel.checkpoint()
        return 7

    async def boom() -> None:
        raise ValueError("boom")

    assert await with_timeout(clock, 5, work) == 7
    with pytest.raises(TimeoutError, match=r"0\.01s"):
        await with_timeout(clock, 0.01, anyio.sleep_forever)
    with pytest.raises(ValueError, match="boom"):
        await with_timeout(clock, 5, boom)
    with anyio.move_on_after(0.01) as outer:  # an outer cancellation propagates
        await with_timeout(clock, 60, anyio.sleep_forever)
    assert outer.cancelled_caught


async def test_on_a_fake_clock_with_alarms_the_bound_is_an_alarm_with_the_same_contract() -> None:
    """``FakeClock(alarms=True)`` (the simulator's): no watchdog task, the same outcomes —
    the result in time, ``TimeoutError`` once the clock passes the bound, the work's own
    errors unwrapped — and no alarm left pending after the call."""
    clock = FakeClock(alarms=True)

    async def work() -> int:
        await clock.sleep(1)
        return 7

    async def boom() -> None:
        raise KeyError("x")

    t0 = clock.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.autojump)
        assert await with_timeout(clock, 5, work) == 7
        assert clock.pending == 0
        with pytest.raises(TimeoutError):
            await with_timeout(clock, 60, anyio.sleep_forever)
        assert clock.pending == 0
        with pytest.raises(KeyError):
            await with_timeout(clock, 5, boom)
        assert clock.pending == 0
        tg.cancel_scope.cancel()
    assert clock.monotonic() - t0 == pytest.approx(61)


def test_an_alarm_fires_once_at_its_deadline_unless_cancelled() -> None:
    clock = FakeClock()
    fired: list[str] = []
    clock.call_at(clock.monotonic() + 2, lambda: fired.append("late"))
    cancelled = clock.call_at(clock.monotonic() + 1, lambda: fired.append("cancelled"))
    clock.call_at(clock.monotonic(), lambda: fired.append("now"))  # due: called at once
    assert clock.next_deadline() == clock.monotonic() + 1
    cancelled.cancel()
    cancelled.cancel()  # idempotent
    assert clock.pending == 1
    clock.advance(5)
    assert fired == ["now", "late"]
    assert clock.pending == 0
