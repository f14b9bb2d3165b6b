"""dns-quorum specifics against three real pdns_server on 127.0.0.1/.2/.3: majority rules,
quorum loss is an error (never "free"), the TXT codec and the record name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from witness_harness import DNS_DOMAIN, DnsQuorumEnv, open_pdns_trio

from continuum.clock import FakeClock
from continuum.errors import QuorumUnavailable, WitnessUnavailable
from continuum.messages.lease import Lease
from continuum.witness.dns_quorum import DnsQuorumWitness, decode_txt, encode_txt, slot_label

pytestmark = pytest.mark.anyio

SLOT = "shop/dr"


@pytest.fixture
async def quorum(tmp_path: Path, clock: FakeClock) -> AsyncIterator[DnsQuorumEnv]:
    async with open_pdns_trio(tmp_path) as servers:
        env = DnsQuorumEnv(servers, clock)
        try:
            yield env
        finally:
            await env.close_all()


async def _write_raw(env: DnsQuorumEnv, index: int, value: str) -> None:
    store = env.store()
    try:
        member = store.members[index]
        await member.api.write_txt(DNS_DOMAIN, store.record_name(SLOT), [value], ttl=0)
    finally:
        await store.aclose()


async def test_one_member_down_still_reads_and_writes_by_majority(quorum: DnsQuorumEnv) -> None:
    witness = await quorum.client()
    lease = await witness.acquire(SLOT, "fsn", 30)
    await quorum.servers[2].stop()
    renewed = await witness.renew(lease)
    assert renewed.generation == lease.generation + 1
    assert await witness.read(SLOT) == renewed


async def test_two_members_down_make_read_raise_quorum_unavailable_never_free(
    quorum: DnsQuorumEnv,
) -> None:
    witness = await quorum.client()
    await witness.acquire(SLOT, "fsn", 30)
    await quorum.servers[0].stop()
    await quorum.servers[1].stop()
    with pytest.raises(QuorumUnavailable):
        await witness.read(SLOT)
    with pytest.raises(QuorumUnavailable):
        await witness.acquire(SLOT, "hel", 30)


async def test_a_three_way_split_raises_quorum_unavailable(quorum: DnsQuorumEnv) -> None:
    witness = await quorum.client()
    for index, holder in enumerate(("fsn", "hel", "nbg")):
        await _write_raw(quorum, index, f"{holder}||2026-01-01T00:01:00Z|5")
    with pytest.raises(QuorumUnavailable):
        await witness.read(SLOT)


async def test_a_single_diverging_member_is_outvoted(quorum: DnsQuorumEnv) -> None:
    witness = await quorum.client()
    lease = await witness.acquire(SLOT, "fsn", 30)
    await _write_raw(quorum, 1, "hel||2099-01-01T00:00:00Z|99")
    assert await witness.read(SLOT) == lease


async def test_a_write_below_quorum_raises_witness_unavailable(quorum: DnsQuorumEnv) -> None:
    witness = await quorum.client()
    lease = await witness.acquire(SLOT, "fsn", 30)
    # DNS still answers on every member, but two APIs refuse writes (wrong key).
    for server in quorum.servers[:2]:
        server.api_key = "wrong"
    crippled = quorum.keep(DnsQuorumWitness(quorum.store(), clock=quorum.clock))
    with pytest.raises(WitnessUnavailable):
        await crippled.renew(lease)


def test_txt_codec_round_trips_and_accepts_reference_forms() -> None:
    lease = Lease(
        key=SLOT,
        holder="fsn",
        generation=7,
        acquired_at=FakeClock().now(),
        expires_at=FakeClock(start=30).now(),
        ttl_seconds=12.5,
    )
    assert decode_txt(SLOT, encode_txt(lease)) == lease
    released = Lease(key=SLOT, generation=8)
    assert encode_txt(released) == "8"
    assert decode_txt(SLOT, "8") == released
    assert decode_txt(SLOT, "") == Lease(key=SLOT)
    legacy = decode_txt(SLOT, "fsn|2026-01-01T00:00:30Z|3")
    assert (legacy.holder, legacy.generation, legacy.acquired_at) == ("fsn", 3, None)
    with pytest.raises(ValueError, match="malformed"):
        decode_txt(SLOT, "garbage")


def test_record_label_is_readable_when_possible_and_hashed_otherwise() -> None:
    assert slot_label("cnpg/dr") == "cnpg_dr"
    long_name = "a" * 40 + "/" + "b" * 40
    assert slot_label(long_name).startswith("h-")
    assert len(slot_label(long_name)) <= 63
    assert slot_label("a.b/c") != slot_label("a/b.c")
