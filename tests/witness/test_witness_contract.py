"""The Witness contract (lease-witness.md §4–5 plus handover), for every backend against its
real server. Time is a FakeClock shared by the clients (and by the Worker contract server)."""

from __future__ import annotations

import time
from datetime import timedelta

import anyio
import pytest
from witness_harness import BackendEnv

from continuum.clock import FakeClock
from continuum.errors import LeaseHeldByAnother, LeaseLost, WitnessUnavailable
from continuum.messages.lease import Lease
from continuum.ports import Witness

pytestmark = pytest.mark.anyio

SLOT = "cnpg/dr"
OTHER_SLOT = "cnpg/other"
SHORT = 2.0
LONG = 30.0


async def test_acquire_on_empty_slot_grants_a_fresh_tenure(
    backend: BackendEnv, clock: FakeClock
) -> None:
    a = await backend.client()
    lease = await a.acquire(SLOT, "fsn", LONG)
    assert lease.holder == "fsn"
    assert lease.key == SLOT
    assert lease.generation == 1
    assert lease.acquired_at is not None
    assert lease.expires_at is not None
    assert lease.expires_at > lease.acquired_at
    assert lease.ttl_seconds == LONG
    assert await a.read(SLOT) == lease


async def test_acquire_held_by_another_raises_with_holder_and_expiry(
    backend: BackendEnv,
) -> None:
    a, b = await backend.client(), await backend.client()
    held = await a.acquire(SLOT, "fsn", LONG)
    with pytest.raises(LeaseHeldByAnother) as caught:
        await b.acquire(SLOT, "hel", LONG)
    assert caught.value.holder == "fsn"
    assert caught.value.expires_at == held.expires_at
    assert (await b.read(SLOT)).generation == held.generation


async def test_acquire_after_expiry_succeeds_for_another_holder(
    backend: BackendEnv, clock: FakeClock
) -> None:
    a, b = await backend.client(), await backend.client()
    first = await a.acquire(SLOT, "fsn", SHORT)
    clock.advance(SHORT + 0.05)
    taken = await b.acquire(SLOT, "hel", LONG)
    assert taken.holder == "hel"
    assert taken.generation == first.generation + 1
    assert taken.acquired_at is not None
    assert first.expires_at is not None
    assert taken.acquired_at >= first.expires_at


async def test_acquire_by_same_holder_extends_and_keeps_acquired_at(
    backend: BackendEnv, clock: FakeClock
) -> None:
    a = await backend.client()
    first = await a.acquire(SLOT, "fsn", LONG)
    clock.advance(1.0)
    again = await a.acquire(SLOT, "fsn", LONG)
    assert again.acquired_at == first.acquired_at
    assert again.expires_at is not None
    assert first.expires_at is not None
    assert again.expires_at >= first.expires_at
    assert again.generation == first.generation + 1


async def test_renew_extends_expiry_and_bumps_generation_by_one(
    backend: BackendEnv, clock: FakeClock
) -> None:
    a = await backend.client()
    lease = await a.acquire(SLOT, "fsn", LONG)
    clock.advance(10.0)
    renewed = await a.renew(lease)
    assert renewed.holder == "fsn"
    assert renewed.generation == lease.generation + 1
    assert renewed.acquired_at == lease.acquired_at
    assert renewed.expires_at is not None
    assert lease.expires_at is not None
    assert renewed.expires_at - lease.expires_at == timedelta(seconds=10)


async def test_renew_after_expiry_raises_lease_lost(backend: BackendEnv, clock: FakeClock) -> None:
    a = await backend.client()
    lease = await a.acquire(SLOT, "fsn", SHORT)
    clock.advance(SHORT + 0.05)
    with pytest.raises(LeaseLost):
        await a.renew(lease)


async def test_renew_by_non_holder_raises_lease_lost_never_held_by_another(
    backend: BackendEnv,
) -> None:
    a, b = await backend.client(), await backend.client()
    held = await a.acquire(SLOT, "fsn", LONG)
    forged = Lease(key=SLOT, holder="hel", generation=held.generation, ttl_seconds=LONG)
    with pytest.raises(LeaseLost):
        await b.renew(forged)
    assert (await b.read(SLOT)).holder == "fsn"


async def test_renew_of_a_stale_generation_raises_lease_lost(backend: BackendEnv) -> None:
    a = await backend.client()
    first = await a.acquire(SLOT, "fsn", LONG)
    await a.renew(first)
    with pytest.raises(LeaseLost):
        await a.renew(first)


async def test_release_is_idempotent_and_frees_the_slot(backend: BackendEnv) -> None:
    a = await backend.client()
    await a.release(Lease(key=SLOT))
    lease = await a.acquire(SLOT, "fsn", LONG)
    await a.release(lease)
    await a.release(lease)
    after = await a.read(SLOT)
    assert after.holder == ""
    assert after.generation == lease.generation + 1


async def test_release_by_non_holder_does_not_evict_the_holder(backend: BackendEnv) -> None:
    a, b = await backend.client(), await backend.client()
    held = await a.acquire(SLOT, "fsn", LONG)
    await b.release(Lease(key=SLOT, holder="hel", generation=held.generation))
    assert await b.read(SLOT) == held


async def test_release_of_a_lease_that_was_taken_over_changes_nothing(
    backend: BackendEnv, clock: FakeClock
) -> None:
    a, b = await backend.client(), await backend.client()
    old = await a.acquire(SLOT, "fsn", SHORT)
    clock.advance(SHORT + 0.05)
    new = await b.acquire(SLOT, "hel", LONG)
    await a.release(old)
    assert await a.read(SLOT) == new


async def test_slots_are_isolated(backend: BackendEnv) -> None:
    a, other = await backend.client(), await backend.client()
    await a.acquire(SLOT, "fsn", LONG)
    lease = await other.acquire(OTHER_SLOT, "hel", LONG)
    assert lease.holder == "hel"
    assert lease.generation == 1


async def test_generation_increases_by_exactly_one_on_every_write(
    backend: BackendEnv, clock: FakeClock
) -> None:
    a, b = await backend.client(), await backend.client()
    generations = []
    lease = await a.acquire(SLOT, "fsn", LONG)
    generations.append(lease.generation)
    lease = await a.renew(lease)
    generations.append(lease.generation)
    lease = await a.acquire(SLOT, "fsn", LONG)
    generations.append(lease.generation)
    lease = await a.handover(lease, "hel", LONG)
    generations.append(lease.generation)
    await b.release(lease)
    generations.append((await b.read(SLOT)).generation)
    lease = await b.acquire(SLOT, "fsn", LONG)
    generations.append(lease.generation)
    assert generations == [1, 2, 3, 4, 5, 6]


async def test_read_on_empty_slot_returns_free_generation_zero(backend: BackendEnv) -> None:
    a = await backend.client()
    assert await a.read(SLOT) == Lease(key=SLOT)


async def test_read_never_writes(backend: BackendEnv) -> None:
    a = await backend.client()
    lease = await a.acquire(SLOT, "fsn", LONG)
    for _ in range(3):
        assert await a.read(SLOT) == lease


async def test_read_after_expiry_returns_the_record_as_is_and_the_slot_is_takeable(
    backend: BackendEnv, clock: FakeClock
) -> None:
    a, b = await backend.client(), await backend.client()
    lease = await a.acquire(SLOT, "fsn", SHORT)
    clock.advance(SHORT + 0.05)
    seen = await b.read(SLOT)
    assert seen == lease
    assert seen.is_free_at(clock.now())
    assert (await b.acquire(SLOT, "hel", SHORT)).holder == "hel"


async def test_handover_moves_the_lease_to_another_holder_in_one_write(
    backend: BackendEnv, clock: FakeClock
) -> None:
    a, b = await backend.client(), await backend.client()
    lease = await a.acquire(SLOT, "fsn", LONG)
    clock.advance(3.0)
    moved = await a.handover(lease, "hel", LONG)
    assert moved.holder == "hel"
    assert moved.generation == lease.generation + 1
    assert moved.acquired_at is not None
    assert moved.acquired_at > lease.acquired_at
    assert await b.read(SLOT) == moved
    renewed = await b.renew(moved)
    assert renewed.holder == "hel"
    with pytest.raises(LeaseLost):
        await a.renew(lease)


async def test_handover_of_a_lease_no_longer_current_raises_lease_lost(
    backend: BackendEnv, clock: FakeClock
) -> None:
    a = await backend.client()
    lease = await a.acquire(SLOT, "fsn", SHORT)
    clock.advance(SHORT + 0.05)
    with pytest.raises(LeaseLost):
        await a.handover(lease, "hel", LONG)
    renewed = await a.acquire(SLOT, "fsn", LONG)
    with pytest.raises(LeaseLost):
        await a.handover(lease, "hel", LONG)
    assert (await a.read(SLOT)) == renewed


async def test_of_concurrent_acquirers_exactly_one_wins(linearizable_backend: BackendEnv) -> None:
    """Every loser is told who holds. Not dns-quorum: without a conditional write two truly
    simultaneous takers may both win there (docs/witness.md); its guarantees under a race
    are the next test's."""
    backend = linearizable_backend
    clients = [await backend.client() for _ in range(4)]
    winners: list[Lease] = []
    losers: list[str] = []

    async def contend(index: int) -> None:
        try:
            winners.append(await clients[index].acquire(SLOT, f"region-{index}", LONG))
        except LeaseHeldByAnother as error:
            losers.append(error.holder)

    async with anyio.create_task_group() as group:
        for index in range(len(clients)):
            group.start_soon(contend, index)
    assert len(winners) == 1
    assert set(losers) == {winners[0].holder}
    assert (await clients[0].read(SLOT)).generation == 1
    assert (await clients[0].read(SLOT)).holder == winners[0].holder


RACES = 3


async def _race(
    clients: list[Witness], names: list[str], slot: str
) -> tuple[list[Lease], list[tuple[str, str]], list[str]]:
    """Every client tries to take ``slot`` at once: (winners' leases, (loser, holder it was
    told), takers told the witness is unavailable)."""
    winners: list[Lease] = []
    losers: list[tuple[str, str]] = []
    undecided: list[str] = []

    async def contend(index: int) -> None:
        try:
            winners.append(await clients[index].acquire(slot, names[index], LONG))
        except LeaseHeldByAnother as error:
            losers.append((names[index], error.holder))
        except WitnessUnavailable:
            undecided.append(names[index])

    async with anyio.create_task_group() as group:
        for index in range(len(clients)):
            group.start_soon(contend, index)
    return winners, losers, undecided


async def test_dns_quorum_race_gives_each_taker_a_definite_answer_and_no_later_taker_wins(
    dns_quorum_backend: BackendEnv,
) -> None:
    """What dns-quorum does guarantee when takers race (it does not guarantee a single
    winner): every taker ends with its own lease, "held by <another taker>", or
    unavailable — never a lease naming someone else, never a hang; whatever a quorum holds
    afterwards names a taker; and while those leases live, a taker that comes after the race
    never wins. Several races, each on its own slot."""
    backend = dns_quorum_backend
    clients = [await backend.client() for _ in range(4)]
    late = await backend.client()
    names = [f"region-{index}" for index in range(len(clients))]
    for race in range(RACES):
        slot = f"race/slot-{race}"
        with anyio.fail_after(30):
            winners, losers, undecided = await _race(clients, names, slot)
        assert len(winners) + len(losers) + len(undecided) == len(clients)
        assert all(lease.holder in names and lease.generation >= 1 for lease in winners)
        assert all(holder in names and holder != me for me, holder in losers)
        try:
            seen = await late.read(slot)
        except WitnessUnavailable:
            seen = None  # a split left by the race: nobody can take the slot, not even late
        if seen is not None and seen.holder:
            assert seen.holder in names
        if winners or losers:  # some taker's lease reached a quorum, and it lives for LONG
            with pytest.raises((LeaseHeldByAnother, WitnessUnavailable)) as refused:
                await late.acquire(slot, "late", LONG)
            if isinstance(refused.value, LeaseHeldByAnother):
                assert refused.value.holder in names


async def test_a_cancelled_caller_writes_nothing(backend: BackendEnv) -> None:
    a = await backend.client()
    lease = await a.acquire(SLOT, "fsn", LONG)
    for call in (
        lambda: a.acquire(OTHER_SLOT, "fsn", LONG),
        lambda: a.renew(lease),
        lambda: a.release(lease),
        lambda: a.handover(lease, "hel", LONG),
        lambda: a.read(SLOT),
    ):
        with anyio.CancelScope() as scope:
            scope.cancel()
            await call()
        assert scope.cancelled_caught
    assert await a.read(SLOT) == lease
    assert await a.read(OTHER_SLOT) == Lease(key=OTHER_SLOT)


async def test_witness_down_raises_witness_unavailable_and_recovers(backend: BackendEnv) -> None:
    a = await backend.client()
    lease = await a.acquire(SLOT, "fsn", LONG)
    await backend.down()
    for call in (
        lambda: a.read(SLOT),
        lambda: a.acquire(SLOT, "fsn", LONG),
        lambda: a.renew(lease),
        lambda: a.handover(lease, "hel", LONG),
        lambda: a.release(lease),
    ):
        with pytest.raises(WitnessUnavailable):
            await call()
    await backend.up()
    deadline = time.monotonic() + 10
    while True:
        try:
            seen = await a.read(SLOT)
            break
        except WitnessUnavailable:
            if time.monotonic() > deadline:
                raise
            await anyio.sleep(0.05)
    assert seen.holder == "fsn"
    assert seen.generation == lease.generation
