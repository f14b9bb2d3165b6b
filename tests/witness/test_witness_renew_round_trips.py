"""A renewal of the lease a client wrote or read last is one write, no read; anything
written in between sends it back to read-decide-write, with the outcome reading first
would give."""

from __future__ import annotations

import anyio
import pytest

from continuum.clock import FakeClock
from continuum.errors import LeaseLost
from continuum.messages.lease import Lease
from continuum.witness.memory import MemoryStore, MemoryWitness

pytestmark = pytest.mark.anyio

SLOT = "acme/shop-dr"


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.loads = 0

    async def load(self, key: str) -> tuple[Lease, int | None]:
        self.loads += 1
        return await super().load(key)


async def test_renewing_ones_own_last_write_does_not_read(fake_clock: FakeClock) -> None:
    store = CountingStore()
    witness = MemoryWitness(store, clock=fake_clock)
    lease = await witness.acquire(SLOT, "fsn", 30)
    loads = store.loads
    for _ in range(5):
        fake_clock.advance(10)
        lease = await witness.renew(lease)
    assert store.loads == loads
    assert lease.generation == 6
    assert (await witness.read(SLOT)) == lease


async def test_renewing_a_lease_just_read_does_not_read_again(fake_clock: FakeClock) -> None:
    """An actor starting over its region's live lease (a restart, a takeover) reads it, then
    proves it: one read and one write, the write under the version the read saw."""
    store = CountingStore()
    lease = await MemoryWitness(store, clock=fake_clock).acquire(SLOT, "fsn", 30)
    fake_clock.advance(10)
    starting = MemoryWitness(store, clock=fake_clock)
    read = await starting.read(SLOT)
    assert read == lease
    loads = store.loads
    renewed = await starting.renew(read)
    assert store.loads == loads
    assert renewed.generation == lease.generation + 1


async def test_a_write_between_the_read_and_the_renewal_is_seen(fake_clock: FakeClock) -> None:
    store = CountingStore()
    first = MemoryWitness(store, clock=fake_clock)
    lease = await first.acquire(SLOT, "fsn", 30)
    starting = MemoryWitness(store, clock=fake_clock)
    read = await starting.read(SLOT)
    handed = await first.handover(lease, "hel", 30)  # the slot moved on after the read
    with pytest.raises(LeaseLost):
        await starting.renew(read)
    assert (await starting.read(SLOT)) == handed


async def test_a_write_by_another_client_in_between_is_seen(fake_clock: FakeClock) -> None:
    store = CountingStore()
    ours, theirs = MemoryWitness(store, clock=fake_clock), MemoryWitness(store, clock=fake_clock)
    lease = await ours.acquire(SLOT, "fsn", 30)
    handed = await theirs.handover(lease, "hel", 30)  # the slot moved on without us
    with pytest.raises(LeaseLost):
        await ours.renew(lease)
    assert (await ours.read(SLOT)) == handed


async def test_a_renewal_after_another_clients_renewal_of_the_same_lease_still_succeeds(
    fake_clock: FakeClock,
) -> None:
    store = CountingStore()
    first, second = MemoryWitness(store, clock=fake_clock), MemoryWitness(store, clock=fake_clock)
    lease = await first.acquire(SLOT, "fsn", 30)
    renewed = await second.renew(lease)  # e.g. a restarted instance adopting the lease
    with pytest.raises(LeaseLost):
        await first.renew(lease)  # the slot is no longer the lease passed: lost, as before
    assert (await first.renew(renewed)).generation == renewed.generation + 1


class WatchedStore(MemoryStore):
    """Notes, at each write, whether another task got to run since the renewal began."""

    def __init__(self) -> None:
        super().__init__()
        self.others_ran_before_write: list[bool] = []
        self.other_ran = False

    async def store(self, lease: Lease, *, version: int | None) -> int | None:
        self.others_ran_before_write.append(self.other_ran)
        return await super().store(lease, version=version)


async def test_a_renewal_goes_straight_to_its_write_without_giving_way(
    fake_clock: FakeClock,
) -> None:
    """``renew`` checks for cancellation without a yield to the scheduler: a task started
    just before the renewal has not run when the write begins (it had, with a checkpoint)."""
    store = WatchedStore()
    witness = MemoryWitness(store, clock=fake_clock)
    lease = await witness.acquire(SLOT, "fsn", 30)
    store.others_ran_before_write.clear()

    async def other() -> None:
        store.other_ran = True

    async with anyio.create_task_group() as tg:
        tg.start_soon(other)
        renewed = await witness.renew(lease)
    assert store.others_ran_before_write == [False]
    assert renewed.generation == lease.generation + 1


async def test_a_cancelled_renewal_still_writes_nothing(fake_clock: FakeClock) -> None:
    store = WatchedStore()
    witness = MemoryWitness(store, clock=fake_clock)
    lease = await witness.acquire(SLOT, "fsn", 30)
    store.others_ran_before_write.clear()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await witness.renew(lease)
    assert scope.cancelled_caught
    assert store.others_ran_before_write == []
    assert (await witness.read(SLOT)) == lease
