"""Leader election over a real HTTP Lease (the emulator) on fake time: who leads, when a
successor may take over, and when a leader must stop."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from continuum.clock import FakeClock
from continuum_sim.kube import KubeEmulator
from tests.leader.leader_harness import LEASE, NAMESPACE, Election, lease_spec

pytestmark = pytest.mark.anyio


async def test_single_candidate_becomes_leader_and_renews_every_retry_period(
    election: Election, kube: KubeEmulator
) -> None:
    clock = FakeClock()
    a = await election.start("a", clock)

    assert a.led
    assert a.is_leader
    first = lease_spec(kube)
    assert first["holderIdentity"] == "a"
    assert first["leaseDurationSeconds"] == 15
    assert first["leaseTransitions"] == 0

    puts_before = len(kube.requests.matching(verb="update", resource="leases"))
    await election.advance(clock, 60)

    assert a.is_leader
    assert a.lost is None
    assert len(kube.requests.matching(verb="update", resource="leases")) - puts_before == 12
    last = lease_spec(kube)
    assert last["holderIdentity"] == "a"
    assert last["acquireTime"] == first["acquireTime"]
    assert last["renewTime"] > first["renewTime"]
    assert a.elector.statistics().last_renew == clock.monotonic()


async def test_second_candidate_waits_and_never_leads_while_the_first_renews(
    election: Election, kube: KubeEmulator
) -> None:
    clock = FakeClock()
    a = await election.start("a", clock)
    b = await election.start("b", clock)

    await election.advance(clock, 120)

    assert a.is_leader
    assert not b.is_leader
    assert not b.led
    assert b.elector.statistics().attempts >= 24
    assert b.elector.statistics().observed_holder == "a"
    assert lease_spec(kube)["holderIdentity"] == "a"


async def test_candidate_with_wall_clock_a_day_ahead_still_waits_for_a_renewing_leader(
    election: Election, kube: KubeEmulator
) -> None:
    a_clock = FakeClock(start=50.0)
    b_clock = FakeClock(start=9_000.0, wall_start=datetime(2026, 1, 2, tzinfo=UTC))
    a = await election.start("a", a_clock)
    b = await election.start("b", b_clock)

    for _ in range(12):
        await election.advance(a_clock, 5)
        await election.advance(b_clock, 5)

    assert a.is_leader
    assert not b.led
    assert b.elector.statistics().observed_holder == "a"


async def test_successor_takes_over_only_after_lease_duration_on_its_own_monotonic_clock(
    election: Election, kube: KubeEmulator
) -> None:
    a_clock = FakeClock(start=50.0)
    b_clock = FakeClock(start=9_000.0)
    a = await election.start("a", a_clock, release_on_cancel=False)
    b = await election.start("b", b_clock)
    for _ in range(4):
        await election.advance(a_clock, 5)
        await election.advance(b_clock, 5)

    await election.stop(a)  # a crashed pod: no release, no more renewals
    assert lease_spec(kube)["holderIdentity"] == "a"
    await election.advance(a_clock, 3_600)  # the dead leader's time is irrelevant
    last_change_seen = b.elector.statistics().observed_at
    assert last_change_seen is not None

    await election.advance(b_clock, last_change_seen + 14.9 - b_clock.monotonic())
    assert not b.led
    await election.advance(b_clock, 0.1)
    assert b.led
    assert b_clock.monotonic() - last_change_seen == pytest.approx(15.0)
    spec = lease_spec(kube)
    assert spec["holderIdentity"] == "b"
    assert spec["leaseTransitions"] == 1


async def test_clean_release_lets_the_successor_lead_on_its_next_attempt(
    election: Election, kube: KubeEmulator
) -> None:
    clock = FakeClock()
    a = await election.start("a", clock)
    b = await election.start("b", clock)
    await election.advance(clock, 20)

    await election.stop(a)
    released = lease_spec(kube)
    assert released["holderIdentity"] == ""
    assert released["leaseDurationSeconds"] == 1
    assert not a.is_leader
    assert a.lost is None

    before = clock.monotonic()
    await election.advance(clock, b.elector.retry_period)
    assert b.led
    assert clock.monotonic() - before <= b.elector.retry_period
    assert lease_spec(kube)["holderIdentity"] == "b"


async def test_cancel_without_release_leaves_the_lease_held_until_it_expires(
    election: Election, kube: KubeEmulator
) -> None:
    clock = FakeClock()
    a = await election.start("a", clock, release_on_cancel=False)
    await election.stop(a)

    assert not a.is_leader
    assert lease_spec(kube)["holderIdentity"] == "a"
    assert kube.requests.matching(verb="update", resource="leases") == []


async def test_renewals_keep_the_leases_labels_and_annotations(
    election: Election, kube: KubeEmulator
) -> None:
    clock = FakeClock()
    await election.start("a", clock)
    stored = kube.store.get("coordination.k8s.io", "leases", NAMESPACE, LEASE)
    assert stored is not None
    meta = {**stored["metadata"], "labels": {"app": "continuum"}, "annotations": {"x": "y"}}
    kube.apply({**stored, "metadata": meta})

    await election.advance(clock, 10)

    after = kube.store.get("coordination.k8s.io", "leases", NAMESPACE, LEASE)
    assert after is not None
    assert after["metadata"]["labels"] == {"app": "continuum"}
    assert after["metadata"]["annotations"] == {"x": "y"}
    assert after["spec"]["holderIdentity"] == "a"
