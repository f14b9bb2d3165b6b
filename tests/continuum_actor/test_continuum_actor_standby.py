"""The standby posture through the ContinuumActor on fake time (controller.md §5.3, §6):
``spec.standbyGraceSeconds`` holds the prior determination while the standby is briefly not
Ready, a single available observation recovers at once, a replica never seen never degrades,
and the status fields a restarted actor seeds its grace window from are written and read
back. Observations come every ``renewSeconds`` (10 s) after start."""

from __future__ import annotations

import anyio
import pytest

from continuum.clock import FakeClock
from continuum.messages.status import COND_STANDBY_AVAILABLE, Phase
from tests.continuum_actor.harness import A, B, Harness, make_cr

pytestmark = pytest.mark.anyio

STANDBY = "shop-pg-hel"


@pytest.fixture
def h(fake_clock: FakeClock) -> Harness:
    return Harness(clock=fake_clock)


def phase(h: Harness) -> Phase | None:
    return h.status.current.phase


def standby(h: Harness) -> tuple[str, str] | None:
    cond = h.status.current.condition(COND_STANDBY_AVAILABLE)
    return None if cond is None else (cond.status, cond.reason)


async def observe(h: Harness, times: int = 1) -> None:
    await h.clock.advance_settled(10 * times)


async def test_grace_zero_degrades_on_the_first_unready_observation(h: Harness) -> None:
    async with h.actor(make_cr(standbyGraceSeconds=0)):
        await observe(h)
        assert (phase(h), standby(h)) == ("Healthy", ("True", "StandbyReachable"))
        h.pair.halves[B].ready = False
        await observe(h)
        assert (phase(h), standby(h)) == ("Degraded", ("False", "StandbyUnreachable"))
    status = h.status.current
    assert (status.standby_available, status.standby_replica_cluster) == (False, STANDBY)
    lease, ready = status.condition("LeaseHeld"), status.condition("Ready")
    assert lease is not None
    assert ready is not None
    assert (lease.status, ready.status) == ("True", "False")  # still the writer, not Ready


async def test_grace_holds_the_prior_condition_quietly_then_degrades(h: Harness) -> None:
    async with h.actor(make_cr(standbyGraceSeconds=30)):
        await observe(h)
        assert (phase(h), standby(h)) == ("Healthy", ("True", "StandbyReachable"))
        writes = len(h.status.writes)
        h.pair.halves[B].ready = False
        await observe(h, 3)  # the episode starts, then 10 s and 20 s into it
        assert (phase(h), standby(h)) == ("Healthy", ("True", "StandbyReachable"))
        assert h.status.current.standby_available is True
        assert len(h.status.writes) == writes  # nothing changed, nothing written
        await observe(h)  # 30 s of continuous unavailability
        assert (phase(h), standby(h)) == ("Degraded", ("False", "StandbyUnreachable"))
        assert len(h.status.writes) == writes + 1


async def test_one_available_observation_recovers_at_once(h: Harness) -> None:
    async with h.actor(make_cr(standbyGraceSeconds=30)):
        await observe(h)
        h.pair.halves[B].ready = False
        await observe(h, 4)
        assert phase(h) == "Degraded"
        h.pair.halves[B].ready = True
        await observe(h)
        assert (phase(h), standby(h)) == ("Healthy", ("True", "StandbyReachable"))
        assert h.status.current.standby_available is True


async def test_degraded_stays_degraded_while_the_standby_cannot_be_read(h: Harness) -> None:
    """An observation without a determination (the standby's API unreachable) keeps the
    last one: only an available observation turns the CR green again."""
    async with h.actor(make_cr(standbyGraceSeconds=0)):
        await observe(h)
        h.pair.halves[B].ready = False
        await observe(h)
        assert phase(h) == "Degraded"
        degraded_at = len(h.status.writes)
        h.pair.unreachable.add(B)
        await observe(h, 5)
        assert (phase(h), standby(h)) == ("Degraded", ("False", "StandbyUnreachable"))
        assert h.status.current.standby_available is False
    assert {w.phase for w in h.status.writes[degraded_at - 1 :]} == {"Degraded"}


async def test_a_replica_never_seen_that_cannot_be_resolved_never_degrades(h: Harness) -> None:
    h.pair.missing.add(B)  # provisioning still in flight
    async with h.actor(make_cr(standbyGraceSeconds=30)):
        await observe(h, 20)
        assert phase(h) == "Healthy"
        assert standby(h) is None
    assert h.status.current.standby_available is None
    assert all(w.phase == "Healthy" for w in h.status.writes)


async def test_a_deleted_replica_is_absent_after_grace_and_a_restart_keeps_it_degraded(
    h: Harness,
) -> None:
    async with h.actor(make_cr(standbyGraceSeconds=30)):
        await observe(h)
        assert standby(h) == ("True", "StandbyReachable")
        h.pair.missing.add(B)
        await observe(h, 3)
        assert phase(h) == "Healthy"
        await observe(h)
        assert (phase(h), standby(h)) == ("Degraded", ("False", "StandbyAbsent"))
        cond = h.status.current.condition(COND_STANDBY_AVAILABLE)
        assert cond is not None
        assert STANDBY in cond.message
    assert h.status.current.standby_available is False
    assert h.status.current.standby_replica_cluster == STANDBY

    # A restart reads the status back: the grace counts as served, nothing turns green.
    before = len(h.status.writes)
    async with h.actor(h.with_status(make_cr(standbyGraceSeconds=30)), region=A) as (_, actor):
        await anyio.wait_all_tasks_blocked()
        assert actor.standby_grace.seen_replica == STANDBY
        assert actor.standby_grace.grace_served
        await observe(h)
        assert (phase(h), standby(h)) == ("Degraded", ("False", "StandbyAbsent"))
    assert {w.phase for w in h.status.writes[before:]} <= {"Degraded"}


async def test_a_restart_over_a_green_status_gives_a_fresh_grace(h: Harness) -> None:
    async with h.actor(make_cr(standbyGraceSeconds=30)):
        await observe(h)
    assert h.status.current.standby_available is True
    h.pair.missing.add(B)
    async with h.actor(h.with_status(make_cr(standbyGraceSeconds=30))):
        await observe(h, 3)
        assert phase(h) == "Healthy"
        await observe(h)
        assert (phase(h), standby(h)) == ("Degraded", ("False", "StandbyAbsent"))
