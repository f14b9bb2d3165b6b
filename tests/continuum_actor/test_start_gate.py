"""The start gate bounds concurrent start-ups and spreads them by a jitter on the clock."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from continuum.actors.continuum.startup import StartGate
from continuum.clock import FakeClock
from continuum.messages.status import ContinuumStatus
from tests.continuum_actor.harness import KEY, A, Harness, make_cr

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


async def test_a_held_gate_trickles_start_ups_but_not_the_urgent_ones(
    fake_clock: FakeClock,
) -> None:
    """Held, the gate admits ``held_concurrency`` start-ups at once; urgent ones (a lease of
    this region to renew) keep ``concurrency`` slots of their own."""
    gate = StartGate(concurrency=4, held_concurrency=1, urgent_concurrency=4)
    gate.hold(True)
    admitted = {True: 0, False: 0}
    release = anyio.Event()

    async def start_up(urgent: bool) -> None:
        async with gate.admitted(fake_clock, urgent=urgent):
            admitted[urgent] += 1
            await release.wait()

    async with anyio.create_task_group() as tg:
        for index in range(12):
            tg.start_soon(start_up, index % 2 == 0)
        await anyio.wait_all_tasks_blocked()
        assert admitted == {True: 4, False: 1}
        assert (gate.starting, gate.waiting) == (5, 7)
        gate.hold(False)  # reopened: the others get the full concurrency again
        release.set()
    assert admitted == {True: 6, False: 6}


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


async def test_an_actor_whose_region_holds_the_lease_starts_through_a_held_gate(
    fake_clock: FakeClock,
) -> None:
    """A CR whose status names this region as the holder (taken over from a dead replica)
    renews its lease though the gate is held and its one ordinary slot is taken; a CR
    without a holder waits for that slot."""
    h = Harness(clock=fake_clock)
    gate = StartGate(concurrency=2, held_concurrency=1, urgent_concurrency=2)
    gate.hold(True)
    taken = anyio.Event()
    release = anyio.Event()

    async def occupy() -> None:
        async with gate.admitted(fake_clock):
            taken.set()
            await release.wait()

    holder = msgspec.structs.replace(make_cr(), status=ContinuumStatus(lease_holder=A))
    async with anyio.create_task_group() as tg:
        tg.start_soon(occupy)
        await taken.wait()
        async with h.actor(holder, start_gate=gate) as (_, actor):
            await fake_clock.advance_settled(0.1)
            assert actor.acting()  # through the held gate
        h2 = Harness(clock=fake_clock)
        async with h2.actor(start_gate=gate) as (_, other):
            await fake_clock.advance_settled(0.1)
            assert not other.acting()  # waits for the ordinary slot
            release.set()
            await fake_clock.advance_settled(0.1)
            assert other.acting()


async def test_an_actor_acquires_its_lease_only_once_admitted(fake_clock: FakeClock) -> None:
    h = Harness(clock=fake_clock)
    gate = StartGate(concurrency=1, jitter_seconds=3.0, random_fraction=lambda: 1.0)
    async with h.actor(start_gate=gate) as (_, actor):
        await fake_clock.advance_settled(2.9)
        assert (await h.witness().read(KEY)).holder == ""
        await fake_clock.advance_settled(0.2)
        assert (await h.witness().read(KEY)).holder == A
        assert actor.acting()
