"""The LeaseKeeper and the WitnessGateway a run writes through, on the fake clock: a lease the
witness names this region by while the keeper knows of none (a write of ours whose reply was
lost) is the one a switchover's undo releases or hands back (seed 502711)."""

from __future__ import annotations

import pytest

from continuum.actors.continuum.keeper import LeaseKeeper, WitnessGateway
from continuum.clock import FakeClock
from continuum.errors import LeaseLost
from continuum.messages.lease import Lease
from continuum.witness.memory import MemoryStore, MemoryWitness

pytestmark = pytest.mark.anyio

KEY = "acme/shop-dr"
A = "hz-fsn-rtz-prod"
B = "hz-hel-rtz-prod"
TTL = 30.0


class LostReplyWitness(MemoryWitness):
    """A witness whose next ``acquire`` lands and then times out (the reply is lost)."""

    lose_next_acquire = False

    async def acquire(self, key: str, holder: str, ttl: float) -> Lease:
        lease = await super().acquire(key, holder, ttl)
        if self.lose_next_acquire:
            self.lose_next_acquire = False
            raise TimeoutError("reply lost")
        return lease


def _keeper(clock: FakeClock, store: MemoryStore, region: str = A) -> LeaseKeeper:
    return LeaseKeeper(
        witness=LostReplyWitness(store, clock=clock), key=KEY, region=region, clock=clock
    )


async def _lost_acquire(keeper: LeaseKeeper) -> Lease:
    """An unplanned run's acquire through the gateway whose reply is lost; returns the lease
    the witness then holds (naming the keeper's region, unknown to the keeper)."""
    witness = keeper.witness
    assert isinstance(witness, LostReplyWitness)
    witness.lose_next_acquire = True
    gateway = WitnessGateway(keeper)
    with pytest.raises(TimeoutError):
        await gateway.acquire(KEY, keeper.region, TTL)
    assert not keeper.holding
    lease = await gateway.read(KEY)
    assert lease.holder == keeper.region
    return lease


async def test_a_release_frees_a_lease_whose_acquire_lost_its_reply(fake_clock: FakeClock) -> None:
    """Seed 502711: the undo of a failover's swap-lease reads the lease as the target's and
    releases it. Before the fix the keeper, holding nothing, skipped the release: the lease
    stayed the target's, its instance adopted it later without ever promoting its half."""
    store = MemoryStore()
    keeper = _keeper(fake_clock, store)
    lease = await _lost_acquire(keeper)
    await WitnessGateway(keeper).release(lease)
    after = await keeper.witness.read(KEY)
    assert after.holder == ""
    assert not keeper.holding


async def test_a_hand_back_moves_a_lease_whose_acquire_lost_its_reply(
    fake_clock: FakeClock,
) -> None:
    """The same undo as a hand-back to the run's ``from``: the keeper holds nothing, the
    lease read names this region, and the compare-and-set moves it (it raised ``LeaseLost``,
    "the lease checked is not the one held")."""
    store = MemoryStore()
    keeper = _keeper(fake_clock, store)
    lease = await _lost_acquire(keeper)
    back = await WitnessGateway(keeper).handover(lease, B, TTL)
    assert back.holder == B
    assert back.generation > lease.generation
    assert (await keeper.witness.read(KEY)).holder == B
    assert not keeper.holding


async def test_a_stale_lease_of_ours_is_refused_by_the_witness(fake_clock: FakeClock) -> None:
    """Holding nothing, the keeper acts on the lease it is given only as the witness's
    compare-and-set allows: a lease of ours no longer current is neither handed over nor
    released."""
    store = MemoryStore()
    keeper = _keeper(fake_clock, store)
    lease = await _lost_acquire(keeper)
    other = _keeper(fake_clock, store, region=B)
    fake_clock.advance(TTL + 1)
    taken = await other.acquire(TTL)
    assert taken.holder == B
    gateway = WitnessGateway(keeper)
    with pytest.raises(LeaseLost):
        await gateway.handover(lease, B, TTL)
    await gateway.release(lease)
    assert await keeper.witness.read(KEY) == taken


async def test_a_release_with_nothing_held_leaves_another_region_s_lease(
    fake_clock: FakeClock,
) -> None:
    """``release`` with nothing held and no lease of ours given writes nothing."""
    store = MemoryStore()
    other = _keeper(fake_clock, store, region=B)
    taken = await other.acquire(TTL)
    keeper = _keeper(fake_clock, store)
    await keeper.release()
    await keeper.release(taken)
    assert await keeper.witness.read(KEY) == taken
    assert store.writes == 1
