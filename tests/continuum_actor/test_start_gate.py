"""The start gate bounds concurrent start-ups and spreads them by a jitter on the clock."""

from __future__ import annotations

import anyio
import pytest

from continuum.actors.continuum.startup import StartGate
from continuum.clock import FakeClock
from tests.continuum_actor.harness import KEY, A, Harness

pytestmark = pytest.mark.anyio


async def test_at_most_concurrency_start_ups_run_at_once(fake_clock: FakeClock) -> None:
    gate = StartGate(concurrency=3)
    running, peak, done = 0, 0, 0
    release = anyio.Event()

    async def start_up() -> None:
        nonlocal running, peak, done
        async with gate.admitted(fake_clock):
            running += 1
            peak = max(peak, running)
            await release.wait()
            running -= 1
        done += 1

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(start_up)
        await anyio.wait_all_tasks_blocked()
        assert (gate.starting, gate.waiting) == (3, 7)
        release.set()
    assert peak == 3
    assert done == 10


async def test_each_start_up_waits_its_jitter_on_the_clock(fake_clock: FakeClock) -> None:
    fractions = iter([0.0, 0.5, 0.9])
    gate = StartGate(concurrency=8, jitter_seconds=2.0, random_fraction=lambda: next(fractions))
    admitted: list[float] = []
    start = fake_clock.monotonic()

    async def start_up() -> None:
        async with gate.admitted(fake_clock):
            admitted.append(fake_clock.monotonic() - start)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(start_up)
        await fake_clock.advance_settled(2.0)
    assert admitted == pytest.approx([0.0, 1.0, 1.8])


def test_a_gate_refuses_a_concurrency_below_one_and_a_negative_jitter() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        StartGate(concurrency=0)
    with pytest.raises(ValueError, match="negative"):
        StartGate(jitter_seconds=-1)


async def test_an_actor_acquires_its_lease_only_once_admitted(fake_clock: FakeClock) -> None:
    h = Harness(clock=fake_clock)
    gate = StartGate(concurrency=1, jitter_seconds=3.0, random_fraction=lambda: 1.0)
    async with h.actor(start_gate=gate) as (_, actor):
        await fake_clock.advance_settled(2.9)
        assert (await h.witness().read(KEY)).holder == ""
        await fake_clock.advance_settled(0.2)
        assert (await h.witness().read(KEY)).holder == A
        assert actor.acting()
