"""The API does not wait on the witness (issue 13, item 5): while a renewal's witness call is
pending — slow, blackholed — the actor still answers reads of its state, and the writer role
still lapses on time. The witness call is held on an event, so the test shows the read was
answered *while* the call was pending (no real-time bound is asserted)."""

from __future__ import annotations

import anyio
import pytest

from continuum.clock import FakeClock
from continuum.messages.crd import Continuum
from continuum.messages.lease import Lease
from continuum.messages.requests import ContinuumSummary, StatusRequest
from continuum.witness.memory import MemoryWitness
from tests.continuum_actor.harness import KEY, A, Harness

pytestmark = pytest.mark.anyio


class HeldWitness:
    """The in-memory witness whose renewals and reads wait on ``gate`` while it is closed
    (a blackholed witness: the call neither answers nor fails)."""

    def __init__(self, inner: MemoryWitness) -> None:
        self.inner = inner
        self.gate: anyio.Event | None = None
        self.pending = 0

    async def _wait(self) -> None:
        if self.gate is not None:
            self.pending += 1
            try:
                await self.gate.wait()
            finally:
                self.pending -= 1

    async def acquire(self, key: str, holder: str, ttl: float) -> Lease:
        return await self.inner.acquire(key, holder, ttl)

    async def renew(self, lease: Lease) -> Lease:
        await self._wait()
        return await self.inner.renew(lease)

    async def read(self, key: str) -> Lease:
        await self._wait()
        return await self.inner.read(key)

    async def release(self, lease: Lease) -> None:
        await self.inner.release(lease)

    async def handover(self, lease: Lease, to_holder: str, ttl: float) -> Lease:
        return await self.inner.handover(lease, to_holder, ttl)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def h(fake_clock: FakeClock) -> Harness:
    return Harness(clock=fake_clock)


async def test_status_is_answered_while_a_renewal_waits_on_the_witness(h: Harness) -> None:
    witness = HeldWitness(MemoryWitness(h.store, clock=h.clock))

    async def open_witness(cr: Continuum) -> HeldWitness:
        return witness

    async with h.actor(witness_for=open_witness) as (ref, actor):
        await anyio.wait_all_tasks_blocked()
        assert actor.acting()
        witness.gate = anyio.Event()
        await h.clock.advance_settled(10)  # the renewal is due and now waits on the witness
        assert witness.pending == 1
        answers: list[ContinuumSummary] = []

        async def read_status() -> None:
            answers.append(await ref.ask(StatusRequest()))

        async with anyio.create_task_group() as tg:
            tg.start_soon(read_status)
            await anyio.wait_all_tasks_blocked()
            assert witness.pending == 1  # still waiting on the witness...
            assert len(answers) == 1  # ...and the read was answered meanwhile
            assert answers[0].acting
            assert answers[0].leaseHolder == A
            witness.gate.set()
        await anyio.wait_all_tasks_blocked()
        assert witness.pending == 0
        assert actor.acting()


async def test_the_writer_role_lapses_on_time_and_fences_while_the_witness_hangs(
    h: Harness,
) -> None:
    witness = HeldWitness(MemoryWitness(h.store, clock=h.clock))

    async def open_witness(cr: Continuum) -> HeldWitness:
        return witness

    async with anyio.create_task_group() as tg:
        async with h.actor(witness_for=open_witness) as (ref, actor):
            await anyio.wait_all_tasks_blocked()
            witness.gate = anyio.Event()
            await h.clock.advance_settled(24.9)
            assert actor.acting()
            assert not h.pair.halves[A].fenced
            await h.clock.advance_settled(0.2)  # ttl - safety margin since the last renewal
            assert not actor.acting()
            assert h.pair.halves[A].fenced  # fenced at the lapse, witness calls still hanging
            summary = await ref.ask(StatusRequest())
            assert not summary.acting
            tg.start_soon(h.clock.autojump)  # let the bounded hanging calls time out
        tg.cancel_scope.cancel()
    assert (await MemoryWitness(h.store, clock=h.clock).read(KEY)).holder == A


async def test_an_observation_due_while_a_refresh_waits_on_the_witness_starts_after_it(
    h: Harness,
) -> None:
    """Seed 967: a writer cut off lost its role; once the partition healed, its renewal
    re-acquired the lease while the observation of the same tick, begun before the witness
    answered, was made for a standby: the stale primary beside it stayed one cadence more.
    The observation now starts once the refresh in flight is over."""
    witness = HeldWitness(MemoryWitness(h.store, clock=h.clock))

    async def open_witness(cr: Continuum) -> HeldWitness:
        return witness

    async with h.actor(witness_for=open_witness) as (_, actor):
        await anyio.wait_all_tasks_blocked()
        assert actor.observing.seq == 0  # the start-up observation reads in place
        witness.gate = anyio.Event()
        await h.clock.advance_settled(10)  # renewal and observation due: the renewal waits
        assert witness.pending == 1
        assert actor.observing.seq == 0  # the observation has not begun...
        assert actor.observing.deferred
        witness.gate.set()
        await anyio.wait_all_tasks_blocked()
        assert actor.observing.seq == 1  # ...and begins once the refresh is over
        assert not actor.observing.deferred
        assert not actor.observing.busy
