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
