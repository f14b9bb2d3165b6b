"""A ContinuumActor stopped to hand its CR to another replica of the region renews the lease
once more, so the successor has a whole TTL to adopt it (``docs/decisions.md`` #32); no
other stop writes to the witness, nor does a hand-over once the replica is fenced, of a CR
being deleted, or of a lease the actor no longer acts on."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import pytest

from continuum import write_gate
from continuum.actors.continuum.actor import ContinuumActor
from continuum.actors.runtime import ActorRef
from continuum.clock import FakeClock
from continuum.messages.commands import DeletionObserved
from continuum.messages.lease import Lease
from continuum.supervisor.supervisor import Supervisor
from tests.continuum_actor.harness import KEY, A, Harness, make_cr

pytestmark = pytest.mark.anyio


@pytest.fixture
def h(fake_clock: FakeClock) -> Harness:
    return Harness(clock=fake_clock)


@asynccontextmanager
async def supervised(
    h: Harness, gate: Callable[[], str | None] = lambda: None
) -> AsyncIterator[tuple[Supervisor, ActorRef]]:
    """The actor of region A under a supervisor (as the CR watch spawns it: under the
    replica's write check); it has run for 15 s (renewed at 10 s)."""
    async with Supervisor(clock=h.clock) as sup:
        with write_gate.bound(gate):
            ref = await sup.spawn(KEY, lambda: ContinuumActor(make_cr(), h.env(A)))
        await h.clock.advance_settled(15)
        yield sup, ref


async def _lease(h: Harness) -> Lease:
    return await h.witness().read(KEY)


async def test_a_hand_over_renews_the_lease_for_the_successor(h: Harness) -> None:
    async with supervised(h) as (sup, _):
        before = await _lease(h)
        await sup.stop(KEY, handing_over=True)
        after = await _lease(h)
    assert before.holder == after.holder == A
    assert after.generation == before.generation + 1
    assert before.expires_at is not None
    assert after.expires_at is not None
    assert (after.expires_at - before.expires_at).total_seconds() == pytest.approx(5)


async def test_a_plain_stop_writes_nothing_to_the_witness(h: Harness) -> None:
    async with supervised(h) as (sup, _):
        before = await _lease(h)
        await sup.stop(KEY)
        assert await _lease(h) == before


async def test_a_fenced_replicas_hand_over_writes_nothing(h: Harness) -> None:
    why: list[str] = []
    async with supervised(h, lambda: why[0] if why else None) as (sup, _):
        before = await _lease(h)
        why.append("shard member r1 is fenced")
        await sup.stop(KEY, handing_over=True)
        assert await _lease(h) == before


async def test_a_deleting_crs_hand_over_writes_nothing(h: Harness) -> None:
    async with supervised(h) as (sup, ref):
        h.finalizers.fail = True  # the actor stays, waiting to remove its finalizer
        h.finalizers.deleting = True
        await ref.tell(DeletionObserved(deletion_timestamp=h.clock.now()))
        await anyio.wait_all_tasks_blocked()
        assert sup.registry.get(KEY) is not None
        before = await _lease(h)
        await sup.stop(KEY, handing_over=True)
        assert await _lease(h) == before


async def test_a_lease_no_longer_acted_on_is_not_renewed_by_a_hand_over(h: Harness) -> None:
    async with supervised(h) as (sup, _):
        h.store.available = False  # renewals fail: past ttl - margin it stops acting
        await h.clock.advance_settled(21)  # 26 s since the renewal at 10 s: the lease is
        h.store.available = True  # still valid for 4 s, but no longer acted on
        before = await _lease(h)
        await sup.stop(KEY, handing_over=True)
        assert await _lease(h) == before
