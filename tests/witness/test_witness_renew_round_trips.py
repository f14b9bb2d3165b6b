"""A renewal of the lease a client wrote last is one write, no read; anything written in
between sends it back to read-decide-write, with the outcome reading first would give."""

from __future__ import annotations

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
