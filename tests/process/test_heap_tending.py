"""The controller process tends the collector's heap on a schedule (continuum.heap)."""

from __future__ import annotations

import gc
import weakref

import pytest

from continuum import heap
from continuum.clock import FakeClock

pytestmark = pytest.mark.anyio


def test_the_schedule_doubles_from_the_first_tending_up_to_the_period() -> None:
    assert heap.schedule(first=30, every=600) == [30, 60, 120, 240, 480, 600]
    assert heap.schedule(first=600, every=600) == [600, 600]


async def test_tendings_run_on_the_schedule_while_the_block_runs(fake_clock: FakeClock) -> None:
    at: list[float] = []
    tended = lambda: at.append(fake_clock.monotonic())  # noqa: E731
    async with heap.tending_heap(fake_clock, run=tended, check=lambda: None):
        await fake_clock.advance_settled(30 + 60 + 120 + 240 + 480 + 600 + 600)
    started = 1_000.0
    assert heap.schedule() == [300, 600]  # the defaults
    assert [t - started for t in at] == [300, 900, 1500, 2100]
    await fake_clock.advance_settled(3_000)
    assert len(at) == 4  # stopped with the block


def test_a_tending_collects_cyclic_garbage_and_freezes_the_survivors() -> None:
    class Node:
        other: object = None

    try:
        survivor = Node()
        alive = weakref.ref(survivor)
        dead_a, dead_b = Node(), Node()
        dead_a.other, dead_b.other = dead_b, dead_a
        heap.tend()  # the cycle is still referenced here: frozen with the rest
        assert gc.get_freeze_count() > 0
        gone = weakref.ref(dead_a)
        del dead_a, dead_b
        heap.tend()  # unfreezes, collects the now unreachable cycle, freezes again
        assert gone() is None
        assert alive() is survivor
    finally:
        gc.unfreeze()


def test_settling_freezes_the_oldest_generation_once_it_outgrows_the_limit() -> None:
    try:
        gc.collect()  # everything alive so far is now in the oldest generation
        gc.unfreeze()
        held = len(gc.get_objects(generation=2))
        assert not heap.settle(limit=held + 10_000)  # under the limit: nothing frozen
        assert gc.get_freeze_count() == 0
        grown = [[i] for i in range(20_000)]  # tracked lists, promoted by the next collect
        gc.collect()
        assert heap.settle(limit=held + 10_000)
        assert gc.get_freeze_count() >= len(grown)
        assert len(gc.get_objects(generation=2)) < 1_000  # a full pass now skips them
    finally:
        gc.unfreeze()


async def test_the_heap_settles_every_check_period_while_the_block_runs(
    fake_clock: FakeClock,
) -> None:
    at: list[float] = []
    check = lambda: at.append(fake_clock.monotonic())  # noqa: E731
    async with heap.tending_heap(fake_clock, run=lambda: None, check=check, check_every=1.0):
        await fake_clock.advance_settled(3.5)
    assert [t - 1_000.0 for t in at] == [1.0, 2.0, 3.0]
    await fake_clock.advance_settled(10)
    assert len(at) == 3  # stopped with the block


async def test_the_young_threshold_is_raised_while_the_block_runs(fake_clock: FakeClock) -> None:
    before = gc.get_threshold()
    async with heap.tending_heap(fake_clock, run=lambda: None, check=lambda: None):
        assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, *before[1:])
    assert gc.get_threshold() == before
