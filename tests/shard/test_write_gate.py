"""The write gate (:mod:`continuum.write_gate`): what a task may write, decided at the moment
of each write. Its contract, the membership's check that shuts it the instant the renew
deadline passes (before the fence has stopped anything), and the witness and DNS edges that
refuse a write without sending it."""

from __future__ import annotations

import anyio
import pytest

from continuum import write_gate
from continuum.adapters.pdm import PdmClient
from continuum.adapters.powerdns import PowerDnsApi
from continuum.clock import FakeClock
from continuum.errors import DnsWriteError, LeaseHeldByAnother, WitnessUnavailable
from continuum.messages.dns import LuaRecord
from continuum.witness.memory import MemoryStore, MemoryWitness
from continuum_sim.kube import KubeEmulator
from tests.shard.shard_harness import Cluster

pytestmark = pytest.mark.anyio

RENEW_DEADLINE = 10.0
RETRY = 5.0
UNREACHABLE = "http://127.0.0.1:9"
"""Nothing listens there: a request that was sent fails with a transport error, not with
the gate's message."""


def _shut() -> str:
    return "fenced for the test"


async def test_nothing_bound_means_every_write_is_allowed() -> None:
    assert write_gate.current() is None
    assert write_gate.refusal() is None
    write_gate.check(AssertionError)  # returns


async def test_a_binding_holds_for_the_tasks_started_under_it_for_their_whole_life() -> None:
    seen: list[str | None] = []
    release = anyio.Event()

    async def later() -> None:
        await release.wait()
        seen.append(write_gate.refusal())

    async with anyio.create_task_group() as tg:
        with write_gate.bound(_shut):
            assert write_gate.refusal() == "fenced for the test"
            with write_gate.bound(None):  # None keeps the enclosing binding
                assert write_gate.current() is _shut
            tg.start_soon(later)
        assert write_gate.refusal() is None  # the block ended for this task ...
        release.set()
    assert seen == ["fenced for the test"]  # ... not for the task started inside it
    with pytest.raises(WitnessUnavailable, match="fenced for the test"), write_gate.bound(_shut):
        write_gate.check(WitnessUnavailable)


async def test_the_witness_writes_nothing_under_a_shut_gate() -> None:
    clock = FakeClock()
    witness = MemoryWitness(MemoryStore(), clock=clock)
    lease = await witness.acquire("acme/web", "region-a", 30)
    with write_gate.bound(_shut):
        with pytest.raises(WitnessUnavailable, match="acme/web not written: fenced"):
            await witness.renew(lease)
        with pytest.raises(WitnessUnavailable):
            await witness.handover(lease, "region-b", 30)
        with pytest.raises(WitnessUnavailable):
            await witness.release(lease)
        with pytest.raises(WitnessUnavailable):
            await witness.acquire("acme/other", "region-a", 30)
        assert await witness.read("acme/web") == lease  # reads are not gated
    assert (await witness.read("acme/other")).holder == ""
    clock.advance(10)
    renewed = await witness.renew(lease)  # the same calls work once the gate is open
    assert renewed.holder == "region-a"
    assert renewed.expires_at > lease.expires_at
    with pytest.raises(LeaseHeldByAnother):
        await witness.acquire("acme/web", "region-b", 30)


async def test_dns_commits_are_refused_before_a_request_is_made() -> None:
    record = LuaRecord(hostname="app.example.org", body="x", ttl=30, primary_region="a")
    async with PowerDnsApi(UNREACHABLE, "key") as pdns, PdmClient(UNREACHABLE) as pdm:
        with write_gate.bound(_shut):
            with pytest.raises(DnsWriteError, match="powerdns: not committed: fenced"):
                await pdns.commit("example.org", [record])
            with pytest.raises(DnsWriteError, match="pdm: not committed: fenced"):
                await pdm.commit("example.org", [record])
        with pytest.raises(DnsWriteError) as sent:  # open: the request is made, and fails
            await pdns.commit("example.org", [record])
        assert "not committed" not in str(sent.value)


async def test_the_membership_shuts_the_gate_the_instant_its_renew_deadline_passes(
    cluster: Cluster, kube: KubeEmulator
) -> None:
    a, b = [await cluster.start(n) for n in "ab"]
    await cluster.advance(3 * RETRY)
    assert a.member.write_refusal() is None
    assert b.member.write_refusal() is None
    before_the_fence = b.member.write_check()  # bound to an actor started now
    last_renew = b.member.statistics().last_renew
    assert last_renew is not None
    kube.faults.fail(method="PUT", resource="leases", name=b.member.lease_name, count=None)
    deadline = last_renew + RENEW_DEADLINE

    await cluster.advance(deadline - 0.01 - cluster.clock.monotonic())
    assert not b.member.fenced
    assert b.member.write_refusal() is None  # renewals failed, but within the deadline

    cluster.clock.advance(0.01)  # the deadline passes; no task has run since
    assert not b.member.fenced
    assert b.running  # the fence has stopped nothing yet ...
    refusal = b.member.write_refusal()  # ... and the gate is already shut
    assert refusal is not None
    assert "renew deadline" in refusal
    assert before_the_fence() == refusal

    await cluster.advance(RETRY)
    assert b.member.fenced
    assert b.member.write_refusal() == f"shard member {b.member.identity} is fenced"
    assert a.member.write_refusal() is None

    kube.faults.clear()
    await cluster.advance(4 * RETRY)
    assert not b.member.fenced
    assert b.member.write_refusal() is None
    assert b.member.write_check()() is None  # an actor started in the new term writes
    stale = before_the_fence()  # one started before the fence never writes again
    assert stale == f"shard member {b.member.identity} was fenced after this actor started"
