"""The start gate bounds concurrent start-ups and spreads them by a jitter on the clock."""

from __future__ import annotations

import anyio
import pytest

from continuum.actors.continuum.startup import REST_FACTOR, StartGate
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


async def test_quiet_returns_at_once_when_no_start_up_is_pending(fake_clock: FakeClock) -> None:
    gate = StartGate(concurrency=2)
    with anyio.fail_after(1):
        await gate.quiet(fake_clock)
    assert gate.pending == 0


async def test_quiet_waits_for_every_pending_start_up_and_at_most_its_bound(
    fake_clock: FakeClock,
) -> None:
    """Start-ups waiting for a slot count as pending as much as those inside; a stream that
    never ends delays the rest of a start-up by ``at_most`` and no more."""
    gate = StartGate(concurrency=1)
    release = anyio.Event()
    quiet_at: list[float] = []

    async def start_up() -> None:
        async with gate.admitted(fake_clock):
            await release.wait()

    async def rest_of_start_up() -> None:
        await gate.quiet(fake_clock, at_most=5.0)
        quiet_at.append(fake_clock.monotonic())

    start = fake_clock.monotonic()
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(start_up)
        await anyio.wait_all_tasks_blocked()
        assert (gate.pending, gate.starting, gate.waiting) == (3, 1, 2)
        tg.start_soon(rest_of_start_up)
        await fake_clock.advance_settled(1.0)
        assert quiet_at == []
        release.set()
        await anyio.wait_all_tasks_blocked()
        assert quiet_at == [start + 1.0]
        assert gate.pending == 0

    never = anyio.Event()

    async def stuck() -> None:
        async with gate.admitted(fake_clock):
            await never.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(stuck)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(rest_of_start_up)
        await fake_clock.advance_settled(4.9)
        assert len(quiet_at) == 1
        await fake_clock.advance_settled(0.2)
        assert len(quiet_at) == 2
        tg.cancel_scope.cancel()
    assert gate.pending == 0


async def test_an_actors_start_up_writes_wait_until_the_leases_starting_with_it_are_refreshed(
    fake_clock: FakeClock,
) -> None:
    """A takeover of many CRs: each refreshes its lease first, and none writes its status
    while another's lease is still waiting in the gate (docs/decisions.md #29)."""
    h = Harness(clock=fake_clock)
    gate = StartGate(concurrency=2)
    release, other_in = anyio.Event(), anyio.Event()

    async def other_start_up() -> None:
        async with gate.admitted(fake_clock):
            other_in.set()
            await release.wait()

    async def run_actor() -> None:
        async with h.actor(start_gate=gate):
            await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        tg.start_soon(other_start_up)
        await other_in.wait()
        tg.start_soon(run_actor)
        await anyio.wait_all_tasks_blocked()
        assert (await h.witness().read(KEY)).holder == A
        assert h.status.writes == []
        release.set()
        await anyio.wait_all_tasks_blocked()
        assert h.status.writes
        tg.cancel_scope.cancel()


async def test_the_rest_of_start_ups_runs_at_most_concurrency_at_once_and_trickles_held(
    fake_clock: FakeClock,
) -> None:
    """The tails of a takeover's start-ups, released together once the gate is quiet, still
    come ``REST_FACTOR × concurrency`` at a time (× ``held_concurrency`` while held)."""
    gate = StartGate(concurrency=1, held_concurrency=1)

    running, peak = 0, 0
    release = anyio.Event()

    async def rest() -> None:
        nonlocal running, peak
        async with gate.rest(fake_clock):
            running += 1
            peak = max(peak, running)
            await release.wait()
            running -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(3 * REST_FACTOR):
            tg.start_soon(rest)
        await anyio.wait_all_tasks_blocked()
        assert running == REST_FACTOR
        release.set()
    assert peak == REST_FACTOR
    gate = StartGate(concurrency=4, held_concurrency=1)
    gate.hold(True)
    release = anyio.Event()
    peak = 0
    async with anyio.create_task_group() as tg:
        for _ in range(3 * REST_FACTOR):
            tg.start_soon(rest)
        await anyio.wait_all_tasks_blocked()
        assert running == REST_FACTOR
        release.set()
    assert peak == REST_FACTOR


async def test_the_wait_for_a_rest_slot_is_bounded_so_renewal_timers_never_queue_past_it(
    fake_clock: FakeClock,
) -> None:
    """Every slot held by a rest that never ends: the next rest runs anyway once ``at_most``
    has passed since it asked (quiet wait and slot wait together), and takes no slot."""
    gate = StartGate(concurrency=1)
    never = anyio.Event()
    ran: list[float] = []

    async def stuck() -> None:
        async with gate.rest(fake_clock):
            await never.wait()

    async def late() -> None:
        async with gate.rest(fake_clock, at_most=5.0):
            ran.append(fake_clock.monotonic())

    start = fake_clock.monotonic()
    async with anyio.create_task_group() as tg:
        for _ in range(REST_FACTOR):
            tg.start_soon(stuck)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(late)
        await fake_clock.advance_settled(4.9)
        assert ran == []
        await fake_clock.advance_settled(0.2)
        assert ran == [pytest.approx(start + 5.0)]
        tg.cancel_scope.cancel()
