"""with_timeout runs on the injected clock, not the event loop's."""

from __future__ import annotations

import anyio
import pytest

from continuum.clock import FakeClock
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
