"""The ``nats-kv`` store's compare-and-set: one request with ``Nats-Expected-Last-Subject-
Sequence``, JetStream's answer decoded with msgspec — against a real nats-server: a write
under the current revision lands, one under a stale revision is a conflict that writes
nothing, a server that does not answer is ``WitnessUnavailable`` within the request timeout,
and a bucket whose stream is gone is ``WitnessUnavailable`` at once."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import msgspec
import pytest

from continuum.errors import WitnessUnavailable
from continuum.messages.lease import Lease
from continuum.witness.cas import CasConflict
from continuum.witness.nats_kv import (
    NatsKvStore,
    PubAck,
    PubAckError,
    decode_pub_ack,
    encode_kv_key,
)
from continuum.witness.nats_pool import NatsKvPool
from continuum_sim.nats import NatsServer

pytestmark = pytest.mark.anyio

SLOT = "cnpg/dr"
BUCKET = "leases"
TIMEOUT = 0.5


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    async with NatsServer(tmp_path / "nats") as nats:
        yield nats


@pytest.fixture
async def store(server: NatsServer) -> AsyncIterator[NatsKvStore]:
    shared = await NatsKvPool().acquire(server.url, BUCKET, timeout=TIMEOUT)
    kv_store = NatsKvStore(shared)
    try:
        yield kv_store
    finally:
        await kv_store.aclose()


def lease(generation: int, holder: str = "fsn") -> Lease:
    return Lease(key=SLOT, holder=holder, generation=generation, ttl_seconds=30.0)


def test_decode_pub_ack() -> None:
    assert decode_pub_ack(b'{"stream":"KV_leases","seq":7}') == PubAck(stream="KV_leases", seq=7)
    assert decode_pub_ack(
        b'{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 6"}}'
    ) == PubAck(error=PubAckError(code=400, err_code=10071, description="wrong last sequence: 6"))
    assert decode_pub_ack(b'{"stream":"KV_leases","seq":8,"duplicate":true,"domain":"x"}').seq == 8
    for garbage in (b"", b"[]", b'{"seq":"7"}', b"not json"):
        with pytest.raises(msgspec.DecodeError):
            decode_pub_ack(garbage)


async def test_a_write_under_the_current_revision_lands(store: NatsKvStore) -> None:
    first = await store.store(lease(1), version=None)
    second = await store.store(lease(2), version=first)
    assert second > first
    assert await store.load(SLOT) == (lease(2), second)
    # The request carried the expected revision: JetStream recorded the write on the key.
    kv = await store._shared.kv()
    entry = await kv.get(encode_kv_key(SLOT))
    assert entry.revision == second


async def test_a_write_under_a_stale_revision_is_a_conflict_and_writes_nothing(
    store: NatsKvStore,
) -> None:
    first = await store.store(lease(1), version=None)
    second = await store.store(lease(2), version=first)
    with pytest.raises(CasConflict):
        await store.store(lease(3, holder="hel"), version=first)
    with pytest.raises(CasConflict):
        await store.store(lease(3, holder="hel"), version=second + 5)
    assert await store.load(SLOT) == (lease(2), second)


async def _all_threads_stopped(pid: int) -> None:
    """Return once every thread of ``pid`` is in the stopped state (``T`` in /proc)."""

    def states() -> set[str]:
        found = set()
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError):  # a thread that just ended
                found.add((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
        return found

    with anyio.fail_after(10):
        while states() != {"T"}:  # noqa: ASYNC110 - polling the kernel's view of a process
            await anyio.sleep(0.001)


async def test_a_server_that_does_not_answer_is_unavailable_within_the_timeout(
    server: NatsServer, store: NatsKvStore
) -> None:
    revision = await store.store(lease(1), version=None)
    os.kill(server.pid, signal.SIGSTOP)  # connected, but nothing answers
    try:
        # kill() only queues the stop: a thread of the server still running on the other
        # core could answer the write below. Wait until every thread has stopped.
        await _all_threads_stopped(server.pid)
        started = time.monotonic()
        with pytest.raises(WitnessUnavailable, match="write"):
            await store.store(lease(2), version=revision)
        assert time.monotonic() - started < TIMEOUT + 2.0
    finally:
        os.kill(server.pid, signal.SIGCONT)


async def test_a_bucket_without_its_stream_is_unavailable(store: NatsKvStore) -> None:
    revision = await store.store(lease(1), version=None)
    await store.connection.jetstream().delete_stream(f"KV_{BUCKET}")
    with pytest.raises(WitnessUnavailable, match="no stream"):
        await store.store(lease(2), version=revision)
