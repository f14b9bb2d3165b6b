"""``nats-kv`` witnesses share one connection per (url, bucket): checked against a real
nats-server, counting connections both in the pool and in the server's own ``/connz``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest

from continuum.clock import FakeClock
from continuum.errors import WitnessUnavailable
from continuum.messages.lease import Lease
from continuum.witness.nats_kv import NatsKvWitness, open_nats_kv
from continuum.witness.nats_pool import NatsKvPool, NatsPoolStats
from continuum_sim.nats import NatsServer

pytestmark = pytest.mark.anyio

SLOT = "cnpg/dr"
LONG = 30.0


class MonitoredNats:
    """A nats-server with its HTTP monitoring port, to count client connections."""

    def __init__(self, server: NatsServer) -> None:
        self.server = server
        self.monitor = server.monitor_url

    @property
    def url(self) -> str:
        return self.server.url

    async def connections(self) -> int:
        async with httpx.AsyncClient(timeout=5.0) as http:
            response = await http.get(f"{self.monitor}/connz")
            response.raise_for_status()
            return int(response.json()["num_connections"])

    async def wait_connections(self, expected: int) -> None:
        """Poll ``/connz`` (bounded) until the server counts ``expected`` clients."""
        deadline = time.monotonic() + 5
        while (seen := await self.connections()) != expected:
            if time.monotonic() > deadline:
                raise AssertionError(f"server has {seen} connections, expected {expected}")
            await anyio.sleep(0.02)


@pytest.fixture
async def nats(tmp_path: Path) -> AsyncIterator[MonitoredNats]:
    async with NatsServer(tmp_path / "nats", monitoring=True) as server:
        yield MonitoredNats(server)


@pytest.fixture
def pool() -> NatsKvPool:
    return NatsKvPool()


async def _open(
    nats: MonitoredNats, pool: NatsKvPool, clock: FakeClock, *, bucket: str = "leases"
) -> NatsKvWitness:
    return await open_nats_kv(nats.url, clock=clock, bucket=bucket, timeout=0.5, pool=pool)


@asynccontextmanager
async def _two(
    nats: MonitoredNats,
    pool: NatsKvPool,
    clock: FakeClock,
    buckets: tuple[str, str] = ("leases", "leases"),
) -> AsyncIterator[tuple[NatsKvWitness, NatsKvWitness]]:
    """Two witnesses from ``pool``, both closed on exit (closing twice is harmless)."""
    a = await _open(nats, pool, clock, bucket=buckets[0])
    try:
        b = await _open(nats, pool, clock, bucket=buckets[1])
        try:
            yield a, b
        finally:
            await b.aclose()
    finally:
        await a.aclose()


async def _eventually_read(witness: NatsKvWitness, key: str) -> Lease:
    deadline = time.monotonic() + 10
    while True:
        try:
            return await witness.read(key)
        except WitnessUnavailable:
            if time.monotonic() > deadline:
                raise
            await anyio.sleep(0.05)


async def test_two_witnesses_of_one_bucket_share_one_connection(
    nats: MonitoredNats, pool: NatsKvPool, clock: FakeClock
) -> None:
    async with _two(nats, pool, clock) as (a, b):
        assert a.store.connection is b.store.connection
        stats = pool.stats()
        assert (stats.connections, stats.references, stats.opened) == (1, 2, 1)
        await nats.wait_connections(1)
        lease = await a.acquire(SLOT, "fsn", LONG)
        assert await b.read(SLOT) == lease


async def test_concurrent_first_opens_make_exactly_one_connection(
    nats: MonitoredNats, pool: NatsKvPool, clock: FakeClock
) -> None:
    witnesses: list[NatsKvWitness] = []

    async def open_one() -> None:
        witnesses.append(await _open(nats, pool, clock))

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(open_one)
    try:
        assert pool.stats().opened == 1
        assert pool.stats().references == 10
        assert len({id(witness.store.connection) for witness in witnesses}) == 1
        await nats.wait_connections(1)
    finally:
        for witness in witnesses:
            await witness.aclose()


async def test_different_buckets_use_different_connections(
    nats: MonitoredNats, pool: NatsKvPool, clock: FakeClock
) -> None:
    async with _two(nats, pool, clock, ("leases-a", "leases-b")) as (a, b):
        assert a.store.connection is not b.store.connection
        assert pool.stats().connections == 2
        await a.acquire(SLOT, "fsn", LONG)
        assert await b.read(SLOT) == Lease(key=SLOT)


async def test_closing_one_witness_keeps_the_other_working(
    nats: MonitoredNats, pool: NatsKvPool, clock: FakeClock
) -> None:
    a = await _open(nats, pool, clock)
    b = await _open(nats, pool, clock)
    try:
        await a.aclose()
        await a.aclose()  # idempotent: must not drop b's reference
        assert not b.store.connection.is_closed
        assert pool.stats().references == 1
        lease = await b.acquire(SLOT, "hel", LONG)
        assert (await b.read(SLOT)).holder == "hel"
        assert lease.generation == 1
        await nats.wait_connections(1)
        with pytest.raises(WitnessUnavailable):
            await a.read(SLOT)
    finally:
        await b.aclose()


async def test_last_close_closes_the_connection(
    nats: MonitoredNats, pool: NatsKvPool, clock: FakeClock
) -> None:
    a = await _open(nats, pool, clock)
    b = await _open(nats, pool, clock)
    connection = a.store.connection
    await a.aclose()
    assert not connection.is_closed
    await b.aclose()
    assert connection.is_closed
    assert pool.stats().connections == 0
    await nats.wait_connections(0)
    c = await _open(nats, pool, clock)
    try:
        assert c.store.connection is not connection
        assert pool.stats().opened == 2
        assert await c.read(SLOT) == Lease(key=SLOT)
    finally:
        await c.aclose()


async def test_server_restart_fails_calls_with_witness_unavailable_then_both_recover(
    nats: MonitoredNats, pool: NatsKvPool, clock: FakeClock
) -> None:
    async with _two(nats, pool, clock) as (a, b):
        lease = await a.acquire(SLOT, "fsn", LONG)
        await nats.server.stop()
        with pytest.raises(WitnessUnavailable):
            await a.read(SLOT)
        with pytest.raises(WitnessUnavailable):
            await b.renew(lease)
        await nats.server.start()
        assert await _eventually_read(a, SLOT) == lease
        assert await _eventually_read(b, SLOT) == lease
        assert (await b.renew(lease)).holder == "fsn"
        assert pool.stats().connections == 1
        await nats.wait_connections(1)


async def test_a_closed_shared_connection_is_replaced_by_a_fresh_one_for_every_user(
    nats: MonitoredNats, pool: NatsKvPool, clock: FakeClock
) -> None:
    async with _two(nats, pool, clock) as (a, b):
        lease = await a.acquire(SLOT, "fsn", LONG)
        broken = a.store.connection
        await broken.close()
        assert await a.read(SLOT) == lease
        assert a.store.connection is not broken
        assert b.store.connection is a.store.connection
        assert await b.read(SLOT) == lease
        c = await _open(nats, pool, clock)
        await c.aclose()
        assert pool.stats().opened == 2
        await nats.wait_connections(1)
    await nats.wait_connections(0)


async def test_a_failed_open_takes_no_reference_and_leaves_no_connection(
    nats: MonitoredNats, pool: NatsKvPool, clock: FakeClock
) -> None:
    await nats.server.stop()
    with pytest.raises(WitnessUnavailable):
        await _open(nats, pool, clock)
    assert pool.stats() == NatsPoolStats(connections=0, references=0, opened=0)
    await nats.server.start()
    a = await _open(nats, pool, clock)
    try:
        assert pool.stats().references == 1
    finally:
        await a.aclose()


async def test_connect_options_give_a_private_connection(
    nats: MonitoredNats, pool: NatsKvPool, clock: FakeClock
) -> None:
    shared = await _open(nats, pool, clock)
    private = await open_nats_kv(
        nats.url,
        clock=clock,
        bucket="leases",
        timeout=0.5,
        pool=pool,
        connect_options={"name": "private"},
    )
    try:
        assert private.store.connection is not shared.store.connection
        assert pool.stats().connections == 1
        await nats.wait_connections(2)
    finally:
        await private.aclose()
    await nats.wait_connections(1)
    await shared.aclose()
