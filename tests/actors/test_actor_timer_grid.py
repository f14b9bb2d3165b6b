"""Timers on a grid (``TimerQueue(grid=...)``, ``ActorHost(timer_grid=...)``): a message is
sent at the first grid mark at or after its deadline — never earlier, at most one grid later —
timers due within one grid interval fire together, and a repeating timer keeps its exact
schedule underneath (no drift). All on the fake clock; grids and delays are binary fractions
where exact instants are compared, so no float rounding enters the assertions."""

from __future__ import annotations

import math

import anyio
import msgspec
import pytest
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream
from hypothesis import given
from hypothesis import strategies as st

from continuum.actors.host import ActorHost
from continuum.actors.timers import ACTOR_TIMER_GRID, TimerQueue, on_grid
from continuum.clock import FakeClock

pytestmark = pytest.mark.anyio


class Tick(msgspec.Struct, frozen=True):
    label: str


def record(
    tg: TaskGroup, receive: MemoryObjectReceiveStream[object], clock: FakeClock
) -> list[tuple[float, str]]:
    """Start a task noting (clock time, label) of every message ``receive`` gets."""
    seen: list[tuple[float, str]] = []

    async def loop() -> None:
        async for item in receive:
            assert isinstance(item, Tick)
            seen.append((clock.monotonic(), item.label))

    tg.start_soon(loop)
    return seen


def test_exact_by_default() -> None:
    assert ACTOR_TIMER_GRID == 0.0
    assert on_grid(1000.013, 0.0) == 1000.013


@pytest.mark.parametrize(
    ("deadline", "grid", "expected"),
    [(1000.0, 0.25, 1000.0), (1000.01, 0.25, 1000.25), (1000.25, 0.25, 1000.25), (3.5, 1.0, 4.0)],
)
def test_on_grid_rounds_up_to_the_next_mark(deadline: float, grid: float, expected: float) -> None:
    assert on_grid(deadline, grid) == expected


@given(
    deadline=st.floats(min_value=0.0, max_value=1e7, allow_nan=False),
    grid=st.sampled_from([0.05, 0.01, 0.1, 0.25, 1.0, 0.03]),
)
def test_on_grid_is_never_early_and_at_most_one_grid_late(deadline: float, grid: float) -> None:
    rounded = on_grid(deadline, grid)
    assert rounded >= deadline
    assert rounded - deadline <= grid * (1 + 1e-9) + math.ulp(deadline) * 4


def test_a_bad_grid_is_refused() -> None:
    host = ActorHost()
    for grid in (-0.05, math.inf, math.nan):
        with pytest.raises(ValueError, match="grid"):
            TimerQueue(host, FakeClock(), grid=grid)


async def test_a_message_waits_for_the_next_grid_mark() -> None:
    clock = FakeClock(start=1000.0)
    async with ActorHost(timer_grid=0.25) as host, anyio.create_task_group() as tg:
        send, receive = anyio.create_memory_object_stream[object](10)
        seen = record(tg, receive, clock)
        host.timer_queue(clock).start(send, delay=0.0625, message=Tick("a"), repeat=False)
        await clock.advance_settled(0.1875)  # 1000.1875: past the deadline, before the mark
        assert seen == []
        await clock.advance_settled(0.0625)  # 1000.25: the mark
        assert seen == [(1000.25, "a")]
        send.close()


async def test_a_deadline_on_a_mark_is_not_delayed() -> None:
    clock = FakeClock(start=1000.0)
    async with ActorHost(timer_grid=0.25) as host, anyio.create_task_group() as tg:
        send, receive = anyio.create_memory_object_stream[object](10)
        seen = record(tg, receive, clock)
        host.timer_queue(clock).start(send, delay=0.5, message=Tick("a"), repeat=False)
        await clock.advance_settled(1)
        assert seen == [(1000.5, "a")]
        send.close()


async def test_timers_due_within_one_grid_interval_fire_together() -> None:
    clock = FakeClock(start=1000.0)
    async with ActorHost(timer_grid=0.25) as host, anyio.create_task_group() as tg:
        send, receive = anyio.create_memory_object_stream[object](100)
        seen = record(tg, receive, clock)
        queue = host.timer_queue(clock)
        for i in range(1, 33):  # deadlines 1000 + i/128 for i in 1..32: all in (1000, 1000.25]
            queue.start(send, delay=i / 128, message=Tick(str(i)), repeat=False)
        await anyio.wait_all_tasks_blocked()
        assert clock.pending == 1  # one sleeper, until the one mark
        assert clock.next_deadline() == 1000.25
        await clock.advance_settled(1)
        assert {when for when, _ in seen} == {1000.25}
        assert [label for _, label in seen] == [str(i) for i in range(1, 33)]  # deadline order
        send.close()


async def test_a_repeating_timer_keeps_its_exact_schedule_under_the_grid() -> None:
    """Every 0.375 s from 1000 on a 0.25 grid: due 1000.375, 1000.75, 1001.125, 1001.5, ...
    sent at 1000.5, 1000.75, 1001.25, 1001.5, ...: each at most one grid late, none drifting
    (a schedule restarted from each send would be due at 1000.875, 1001.375, ...)."""
    clock = FakeClock(start=1000.0)
    async with ActorHost(timer_grid=0.25) as host, anyio.create_task_group() as tg:
        send, receive = anyio.create_memory_object_stream[object](100)
        seen = record(tg, receive, clock)
        timer = host.timer_queue(clock).start(send, delay=0.375, message=Tick("r"), repeat=True)
        await clock.advance_settled(3)
        timer.cancel()
        due = [1000 + 0.375 * k for k in range(1, 9)]
        assert [when for when, _ in seen] == [on_grid(d, 0.25) for d in due]
        assert [when for when, _ in seen] == [
            1000.5, 1000.75, 1001.25, 1001.5, 1002.0, 1002.25, 1002.75, 1003.0,
        ]  # fmt: skip
        send.close()


async def test_a_ten_second_timer_on_the_controller_grid_never_fires_early_or_drifts() -> None:
    clock = FakeClock(start=1000.013)
    async with ActorHost(timer_grid=0.05) as host, anyio.create_task_group() as tg:
        send, receive = anyio.create_memory_object_stream[object](100)
        seen = record(tg, receive, clock)
        timer = host.timer_queue(clock).start(send, delay=10, message=Tick("r"), repeat=True)
        await clock.advance_settled(100.1)  # to 1100.113: ten sends, the last at ~1100.05
        timer.cancel()
        assert len(seen) == 10
        for k, (when, _) in enumerate(seen, start=1):
            due = 1000.013 + 10 * k
            assert due <= when < due + 0.05 + 1e-9
            assert when == pytest.approx(1000.05 + 10 * k, abs=1e-9)
        send.close()


async def test_a_timer_that_fell_behind_skips_to_the_grid_after_now() -> None:
    """Behind a full mailbox, missed ticks are skipped as with exact timers: the next is due
    one delay after the late send, rounded up to the grid."""
    clock = FakeClock(start=1000.0)
    async with ActorHost(timer_grid=0.25) as host:
        send, receive = anyio.create_memory_object_stream[object](1)
        send.send_nowait(Tick("occupying"))
        timer = host.timer_queue(clock).start(send, delay=1, message=Tick("r"), repeat=True)
        await clock.advance_settled(2.125)  # due 1001, 1002 missed: the mailbox is full
        assert receive.receive_nowait() == Tick("occupying")
        await anyio.wait_all_tasks_blocked()
        assert receive.receive_nowait() == Tick("r")  # the tick waiting since 1001 goes in
        assert timer.due == 1003.125  # next: one delay after now (1002.125)...
        assert timer.deadline == 1003.25  # ...sent on the mark after it
        timer.cancel()
        send.close()
        receive.close()
