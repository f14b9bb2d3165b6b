"""The membership stays live whatever the actors do (``docs/decisions.md`` #23), on the
emulator over real HTTP with fake time: renewals run on time while a rebalance (the actors'
stops and starts) takes longer than a TTL, and a view that drops keys is published only once
their actors stopped; a late round slows actor start-ups to a trickle until a round is on
time again; a
fenced replica rejoins only after a growing, bounded back-off."""

from __future__ import annotations

import anyio
import pytest

from continuum.actors.continuum.startup import StartGate
from continuum_sim.kube import KubeEmulator
from tests.shard.shard_harness import KEYS, NAMESPACE, Cluster, Replica

pytestmark = pytest.mark.anyio

TTL = 15.0
RETRY = 5.0
DEADLINE = 10.0


def published(kube: KubeEmulator, replica: Replica) -> str:
    lease = kube.store.get("coordination.k8s.io", "leases", NAMESPACE, replica.member.lease_name)
    assert lease is not None
    return str(lease["metadata"]["annotations"]["continuum.openova.io/shard-view"])


async def test_renewals_stay_on_time_while_a_rebalance_outlasts_the_ttl(
    cluster: Cluster, kube: KubeEmulator
) -> None:
    a, b = [await cluster.start(n) for n in "ab"]
    await cluster.advance(3 * RETRY)
    assert a.running | b.running == set(KEYS)
    before = set(b.running)
    b.blocked = anyio.Event()  # b's actors take "forever" to stop
    c = await cluster.start("c")
    renewals = b.member.statistics().renewals
    started = cluster.clock.monotonic()
    while cluster.clock.monotonic() < started + 3 * TTL:
        await cluster.advance(RETRY / 2)
        stats = b.member.statistics()
        assert not stats.fenced
        assert stats.last_renew is not None
        assert cluster.clock.monotonic() - stats.last_renew <= RETRY
        assert not cluster.doubles
        # b still runs its old share, so it keeps claiming all of it ...
        assert b.running == before
        assert published(kube, b) == '["a","b"]'
    # ... renewing every retry period all along (three TTLs: 9 periods, bar the first).
    assert b.member.statistics().renewals - renewals >= 3 * TTL / RETRY - 1
    assert not (c.running & b.running)

    b.blocked.set()  # the stops end: b publishes the new view and c takes its keys
    await cluster.advance(2 * RETRY)
    assert published(kube, b) == '["a","b","c"]'
    owners = cluster.owners()
    assert set(owners) == set(KEYS)
    assert all(len(w) == 1 for w in owners.values())
    assert not cluster.doubles
    assert c.running


async def test_a_late_round_slows_start_ups_until_a_round_is_on_time(cluster: Cluster) -> None:
    gate = StartGate(concurrency=4, held_concurrency=1)
    calls: list[bool] = []

    def on_pressure(pressed: bool) -> None:
        calls.append(pressed)
        gate.hold(pressed)

    a = await cluster.start("a", on_pressure=on_pressure)
    await cluster.advance(2 * RETRY)
    assert calls == []
    last = a.member.statistics().last_renew
    assert last is not None
    # The loop was "busy" for 3 s past the due round (the clock jumps over it): more than
    # half the margin between the retry period and the renew deadline (2.5 s).
    cluster.clock.advance(last + RETRY + 3.0 - cluster.clock.monotonic())
    await cluster.settle()
    assert calls == [True]
    assert a.member.statistics().pressed
    assert gate.held

    running = 0
    release = anyio.Event()

    async def start_up() -> None:
        nonlocal running
        async with gate.admitted(cluster.clock):
            running += 1
            await release.wait()

    async with anyio.create_task_group() as tg:
        for _ in range(6):
            tg.start_soon(start_up)
        await anyio.wait_all_tasks_blocked()
        assert (running, gate.waiting) == (1, 5)  # a trickle while the membership is late
        await cluster.advance(RETRY)  # the next round is on time: the gate reopens
        await anyio.wait_all_tasks_blocked()
        assert calls == [True, False]
        assert not gate.held
        assert (running, gate.waiting) == (4, 2)
        release.set()
    assert running == 6
    assert gate.holds == 1


async def test_a_fenced_replica_rejoins_after_a_growing_bounded_back_off(
    cluster: Cluster, kube: KubeEmulator
) -> None:
    b = await cluster.start("b", rejoin_backoff_max=12.0)
    await cluster.advance(2 * RETRY)
    waits: list[float] = []
    for expected in (5.0, 10.0, 12.0):  # retry period · 2^(n-1), capped
        kube.faults.fail(method="PUT", resource="leases", name=b.member.lease_name, count=None)
        while not b.member.fenced:
            await cluster.advance(0.5)
        fenced_at = cluster.clock.monotonic()
        assert b.running == set()
        assert b.member.statistics().rejoin_backoff == expected
        kube.faults.clear()  # the API server answers again at once ...
        while b.member.fenced:
            await cluster.advance(0.5)
        waits.append(cluster.clock.monotonic() - fenced_at)
        await cluster.advance(RETRY)
        assert b.running == set(KEYS)
    # ... yet each rejoin waited its back-off (and not much more).
    for wait, expected in zip(waits, (5.0, 10.0, 12.0), strict=True):
        assert expected <= wait <= expected + 1.0
    assert b.member.statistics().fences == 3


async def test_the_back_off_resets_once_the_replica_stayed_joined(
    cluster: Cluster, kube: KubeEmulator
) -> None:
    b = await cluster.start("b", rejoin_backoff_max=12.0)
    await cluster.advance(2 * RETRY)
    for _ in range(2):
        kube.faults.fail(method="PUT", resource="leases", name=b.member.lease_name, count=None)
        while not b.member.fenced:
            await cluster.advance(0.5)
        kube.faults.clear()
        while b.member.fenced:
            await cluster.advance(0.5)
    await cluster.advance(12.0 + RETRY)  # joined for the back-off cap: the count restarts
    kube.faults.fail(method="PUT", resource="leases", name=b.member.lease_name, count=None)
    while not b.member.fenced:
        await cluster.advance(0.5)
    assert b.member.statistics().rejoin_backoff == RETRY
