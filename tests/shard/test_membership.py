"""Replicas sharing keys through membership Leases on the emulator, over real HTTP, with fake
time: every key on exactly one replica once settled, never on two at any moment, reassigned
within one lease duration (plus one read period) when a replica dies or cannot renew, and
few keys moved when one joins."""

from __future__ import annotations

import pytest

from continuum.leader.assignment import Assignment
from continuum_sim.kube import KubeEmulator
from tests.shard.shard_harness import KEYS, NAMESPACE, Cluster

pytestmark = pytest.mark.anyio

TTL = 15.0
RETRY = 5.0
READ = RETRY / 4


def assert_partitioned(cluster: Cluster) -> None:
    owners = cluster.owners()
    assert not cluster.doubles
    assert all(len(who) == 1 for who in owners.values()), owners
    assert set(owners) == set(KEYS)
    members = [r.member.identity for r in cluster.replicas]
    expected = Assignment(members)
    for key, (who,) in owners.items():
        assert who == expected.owner(key)


async def test_one_replica_owns_everything(cluster: Cluster, kube: KubeEmulator) -> None:
    a = await cluster.start("a")
    await cluster.advance(RETRY)
    assert a.running == set(KEYS)
    lease = kube.store.get("coordination.k8s.io", "leases", NAMESPACE, a.member.lease_name)
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == "a"
    assert lease["metadata"]["annotations"]["continuum.openova.io/shard-view"] == '["a"]'


@pytest.mark.parametrize("replicas", [2, 3])
async def test_replicas_share_the_keys_and_never_double(cluster: Cluster, replicas: int) -> None:
    for name in "abc"[:replicas]:
        await cluster.start(name)
        await cluster.advance(1)
    for _ in range(10):
        await cluster.advance(RETRY / 2)
        assert not cluster.doubles
        assert all(len(w) == 1 for w in cluster.owners().values())
    assert_partitioned(cluster)
    for r in cluster.replicas:
        assert len(r.running) >= 0.6 * len(KEYS) / replicas


async def test_a_clean_stop_hands_its_keys_over_at_the_next_round(cluster: Cluster) -> None:
    a, b, c = [await cluster.start(n) for n in "abc"]
    await cluster.advance(3 * RETRY)
    assert_partitioned(cluster)
    await cluster.stop(b)
    await cluster.advance(RETRY + 1)
    assert_partitioned(cluster)
    assert len(a.running) + len(c.running) == len(KEYS)


async def test_a_killed_replica_is_taken_over_within_one_lease_duration(
    cluster: Cluster,
) -> None:
    a, b, c = [await cluster.start(n) for n in "abc"]
    await cluster.advance(3 * RETRY)
    assert_partitioned(cluster)
    orphaned = set(b.running)
    last_renew = b.member.statistics().last_renew
    assert last_renew is not None
    await cluster.kill(b)
    killed_at = cluster.clock.monotonic()
    # Not before its Lease can have expired from the others' view ...
    await cluster.advance(TTL - (killed_at - last_renew) - 0.5)
    assert not (orphaned & (a.running | c.running))
    # ... and within one lease duration plus one read period (the peers read the Leases
    # every quarter of a retry period between renewals) of its last renewal.
    await cluster.advance(last_renew + TTL + READ - cluster.clock.monotonic())
    assert_partitioned(cluster)
    taken = [
        t
        for r in (a, c)
        for (t, what, k) in r.moves
        if what == "start" and k in orphaned and t >= killed_at
    ]
    assert taken
    assert max(taken) - last_renew <= TTL + READ


async def test_a_steady_group_reads_every_read_period_but_renews_and_rebalances_rarely(
    cluster: Cluster, kube: KubeEmulator
) -> None:
    """Between renewals a round only lists the Leases; the followers (a rebalance over every
    CR) run only when what owns() answers from changed, not after every round."""
    replicas = [await cluster.start(n) for n in "abc"]
    await cluster.advance(3 * RETRY)
    assert_partitioned(cluster)
    before = {r.member.identity: (r.member.statistics().renewals, r.rebalances) for r in replicas}
    logged = len(kube.requests)
    await cluster.advance(10 * RETRY)
    assert_partitioned(cluster)
    for r in replicas:
        renewals, rebalances = before[r.member.identity]
        stats = r.member.statistics()
        assert 9 <= stats.renewals - renewals <= 11  # one per retry period
        assert r.rebalances == rebalances  # nothing changed: no pass over the keys
    window = [kube.requests[i] for i in range(logged, len(kube.requests))]
    verbs = [r.verb for r in window if r.resource == "leases"]
    assert 27 <= verbs.count("update") <= 33  # 3 replicas, one renewal per retry period
    assert verbs.count("list") >= 3 * 10 * (RETRY / READ) - 6  # ... one read per read period


async def test_a_replica_whose_renewals_fail_stops_its_keys_before_others_start_them(
    cluster: Cluster, kube: KubeEmulator
) -> None:
    a, b, c = [await cluster.start(n) for n in "abc"]
    await cluster.advance(3 * RETRY)
    assert_partitioned(cluster)
    orphaned = set(b.running)
    last_renew = b.member.statistics().last_renew
    assert last_renew is not None
    kube.faults.fail(method="PUT", resource="leases", name=b.member.lease_name, count=None)
    failing_from = cluster.clock.monotonic()
    stopped_at: float | None = None
    while cluster.clock.monotonic() < last_renew + TTL + RETRY:
        await cluster.advance(0.5)
        assert not cluster.doubles
        if stopped_at is None and not b.running:
            stopped_at = cluster.clock.monotonic()
    assert b.member.fenced
    assert stopped_at is not None
    assert stopped_at - last_renew <= 10.0 + 0.5  # the renew deadline (0.5 s steps), < TTL
    starts = [
        t
        for r in (a, c)
        for (t, what, k) in r.moves
        if what == "start" and k in orphaned and t > failing_from
    ]
    assert starts
    assert min(starts) >= last_renew + TTL - RETRY
    assert max(starts) - last_renew <= TTL + RETRY
    owners = cluster.owners()
    assert set(owners) == set(KEYS)
    assert all(len(w) == 1 for w in owners.values())

    kube.faults.clear()  # renewals work again: b rejoins and gets its share back
    await cluster.advance(4 * RETRY)
    assert not b.member.fenced
    assert_partitioned(cluster)


async def test_a_joining_replica_moves_few_keys_and_only_to_itself(cluster: Cluster) -> None:
    replicas = [await cluster.start(n) for n in "abcd"]
    await cluster.advance(3 * RETRY)
    assert_partitioned(cluster)
    before = {k: w[0] for k, w in cluster.owners().items()}
    e = await cluster.start("e")
    for _ in range(8):
        await cluster.advance(RETRY / 2)
        assert not cluster.doubles
    assert_partitioned(cluster)
    after = {k: w[0] for k, w in cluster.owners().items()}
    moved = [k for k in KEYS if before[k] != after[k]]
    assert all(after[k] == "e" for k in moved)
    assert len(moved) <= 0.3 * len(KEYS)
    assert e.running == set(moved)
    assert all(r.running <= {k for k in KEYS if before[k] == r.member.identity} for r in replicas)


def _group_leases(kube: KubeEmulator) -> set[str]:
    return {
        str(obj["metadata"]["name"])
        for obj in kube.store.objects("coordination.k8s.io", "leases", NAMESPACE)
    }


async def test_a_crashed_replicas_lease_is_collected_after_ten_lease_durations(
    cluster: Cluster, kube: KubeEmulator
) -> None:
    a, b, c = [await cluster.start(n) for n in "abc"]
    await cluster.advance(3 * RETRY)
    dead = b.member.lease_name
    last_renew = b.member.statistics().last_renew
    assert last_renew is not None
    await cluster.kill(b)
    assert dead in _group_leases(kube)
    # Long expired, its Lease stays until it has been unchanged for ten lease durations ...
    await cluster.advance(last_renew + 10 * TTL - RETRY - cluster.clock.monotonic())
    assert dead in _group_leases(kube)
    # ... then one survivor deletes it, and the live members' Leases stay.
    await cluster.advance(2 * RETRY)
    assert _group_leases(kube) == {a.member.lease_name, c.member.lease_name}
    assert_partitioned(cluster)
    await cluster.advance(20 * TTL)
    assert _group_leases(kube) == {a.member.lease_name, c.member.lease_name}
    assert_partitioned(cluster)


async def test_a_lease_that_changed_since_it_was_read_is_not_collected(
    cluster: Cluster, kube: KubeEmulator
) -> None:
    a = await cluster.start("a")
    leases = a.member._leases  # the wire, as the membership uses it
    status, items = await leases.list()
    assert status == 200
    assert items is not None
    (own,) = items
    name = str(own.metadata["name"])
    assert await leases.delete(name, resource_version="1") == 409
    assert name in _group_leases(kube)
    version = str(own.metadata["resourceVersion"])
    await cluster.advance(RETRY)  # a renewal: a new resourceVersion
    assert await leases.delete(name, resource_version=version) == 409
    assert name in _group_leases(kube)


async def test_each_replica_names_the_peer_that_runs_a_key_by_its_published_api_url(
    cluster: Cluster,
) -> None:
    a = await cluster.start("a", api_url="http://10.0.0.1:8082")
    b = await cluster.start("b", api_url="http://10.0.0.2:8082")
    c = await cluster.start("c")  # publishes no URL: nothing can be forwarded to it
    await cluster.advance(3 * RETRY)
    assert_partitioned(cluster)
    for key in KEYS:
        if key in a.running:
            assert a.member.peer_url_for(key) is None
            assert b.member.peer_url_for(key) == "http://10.0.0.1:8082"
        elif key in b.running:
            assert a.member.peer_url_for(key) == "http://10.0.0.2:8082"
            assert b.member.peer_url_for(key) is None
        else:
            assert key in c.running
            assert a.member.peer_url_for(key) is None
            assert b.member.peer_url_for(key) is None
    assert any(k in c.running for k in KEYS)
    assert any(c.member.peer_url_for(k) == "http://10.0.0.1:8082" for k in a.running)


@pytest.mark.parametrize("settle", [0.0, 2.5])
async def test_replicas_started_together_settle_before_they_start_anything(
    cluster: Cluster, settle: float
) -> None:
    """Started a second apart, replicas without a settle period each start the share of a
    smaller group and hand most of it on at once (a lease handed over before its first
    renewal can lapse while the new owner's start-ups queue); with one, none starts a key
    until the member set it sees stood still that long, and no key ever moves."""
    replicas = []
    base = cluster.clock.monotonic()
    for name in "abc":
        replicas.append(await cluster.start(name, settle_period=settle))
        await cluster.advance(1)
    await cluster.advance(3 * RETRY)
    assert_partitioned(cluster)
    stops = [m for r in replicas for m in r.moves if m[1] == "stop"]
    if not settle:
        assert stops  # the case the settle period is for
        return
    assert not stops
    last_change = base + 2.0  # c started two seconds after a, seen within a read period
    for r in replicas:
        first = min(t for t, what, _ in r.moves if what == "start")
        assert first >= last_change + settle
        assert first <= last_change + READ + settle + READ


async def test_a_settling_replica_owns_nothing_and_waits_at_most_one_lease_duration(
    cluster: Cluster,
) -> None:
    """A lone replica owns nothing for its settle period, then everything; a member set that
    keeps changing delays it by at most one lease duration after its join."""
    a = await cluster.start("a", settle_period=2.5)
    joined = cluster.clock.monotonic()
    assert a.running == set()
    await cluster.advance(2.0)
    assert a.running == set()
    await cluster.advance(1.0)
    assert a.running == set(KEYS)
    assert min(t for t, what, _ in a.moves if what == "start") - joined <= 2.5 + 1e-6

    await cluster.stop(a)
    b = await cluster.start("b", settle_period=TTL - 1)
    joined = cluster.clock.monotonic()
    for name in "cdefg":  # a member set changing every 3 s
        await cluster.start(name, settle_period=TTL - 1)
        await cluster.advance(3.0)
    await cluster.advance(RETRY)
    assert b.running
    first = min(t for t, what, _ in b.moves if what == "start")
    assert TTL - 1e-6 <= first - joined <= TTL + READ
