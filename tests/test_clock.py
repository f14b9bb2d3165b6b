from __future__ import annotations

import anyio
import pytest

from continuum.clock import FakeClock, SystemClock

pytestmark = pytest.mark.anyio


async def test_fake_clock_sleep_returns_after_advance(fake_clock: FakeClock) -> None:
    woke: list[float] = []

    async def sleeper() -> None:
        await fake_clock.sleep(10)
        woke.append(fake_clock.monotonic())

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper)
        await anyio.wait_all_tasks_blocked()
        fake_clock.advance(9.5)
        await anyio.wait_all_tasks_blocked()
        assert woke == []
        fake_clock.advance(0.5)
    assert woke == [1_010.0]


async def test_advance_settled_runs_periodic_work_at_each_deadline(fake_clock: FakeClock) -> None:
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            await fake_clock.sleep(10)
            ticks.append(fake_clock.monotonic() - 1_000)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await fake_clock.advance_settled(35)
        tg.cancel_scope.cancel()
    assert ticks == [10, 20, 30]


async def test_autojump_runs_a_long_sleep_in_no_real_time(fake_clock: FakeClock) -> None:
    real = SystemClock()
    started = real.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(fake_clock.autojump)
        await fake_clock.sleep(3600)
        tg.cancel_scope.cancel()
    assert fake_clock.monotonic() == 1_000 + 3600
    assert real.monotonic() - started < 1.0


async def test_cancelled_sleeper_is_not_pending(fake_clock: FakeClock) -> None:
    with anyio.move_on_after(0.01):
        await fake_clock.sleep(5)
    assert fake_clock.pending == 0


async def test_wall_time_moves_with_monotonic_time(fake_clock: FakeClock) -> None:
    before = fake_clock.now()
    fake_clock.advance(30)
    assert (fake_clock.now() - before).total_seconds() == 30


async def test_wait_armed_returns_once_a_deadline_by_then_is_pending(
    fake_clock: FakeClock,
) -> None:
    order: list[str] = []

    async def late_sleeper() -> None:
        await fake_clock.sleep(60)  # not by 1_005: wait_armed keeps waiting

    async def sleeper() -> None:
        order.append("arming")
        await fake_clock.sleep(5)

    async def watcher() -> None:
        await fake_clock.wait_armed(1_005)
        order.append("armed")

    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher)
        tg.start_soon(late_sleeper)
        await anyio.wait_all_tasks_blocked()
        assert order == []
        assert not fake_clock.armed(1_005)
        assert fake_clock.armed(1_060)
        tg.start_soon(sleeper)
        await anyio.wait_all_tasks_blocked()
        assert order == ["arming", "armed"]
        await fake_clock.wait_armed(1_005)  # already armed: returns at once
        tg.cancel_scope.cancel()


async def test_wait_armed_sees_alarms_and_a_cancelled_wait_leaves_no_watcher(
    fake_clock: FakeClock,
) -> None:
    with anyio.CancelScope() as scope:
        scope.cancel()
        await fake_clock.wait_armed(1_001)
    assert fake_clock._arm_watchers == []
    alarm = fake_clock.call_at(1_001, lambda: None)
    assert fake_clock.armed(1_001)
    await fake_clock.wait_armed(1_001)
    alarm.cancel()
    assert not fake_clock.armed(1_001)
