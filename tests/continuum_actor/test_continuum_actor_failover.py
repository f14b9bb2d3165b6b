"""Auto-failover by a standby region's instance, and crash recovery after the handover."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from continuum.clock import FakeClock
from continuum.messages.audit import AuditType
from continuum.messages.requests import DryRunRequest, SwitchoverRequest
from continuum.messages.status import ContinuumStatus
from tests.continuum_actor.harness import KEY, A, B, Harness, make_cr

pytestmark = pytest.mark.anyio


@pytest.fixture
def h(fake_clock: FakeClock) -> Harness:
    return Harness(clock=fake_clock)


async def primary_dies(h: Harness) -> None:
    await h.witness().acquire(KEY, A, 30)  # A's instance held it, then A went dark
    h.pair.unreachable.add(A)


async def test_standby_takes_over_only_after_ttl_and_n_observations(h: Harness) -> None:
    await primary_dies(h)
    cr = make_cr(autoFailover=True, autoFailoverObservations=3)
    async with h.actor(cr, region=B) as (_, actor):
        await h.clock.advance_settled(29)
        assert (await h.witness().read(KEY)).holder == A  # lease still live: never before TTL
        assert not actor.acting()
        await h.clock.advance_settled(25)
        lease = await h.witness().read(KEY)
        assert lease.holder == B
        assert actor.acting()
    half_b = (await h.pair.read_pair()).half(B)
    assert half_b is not None
    assert half_b.acts_as_primary
    assert h.dns.primaries() == {B}
    last = h.status.current.last_switchover
    assert last is not None
    assert last.reason == "auto-failover"
    assert last.initiated_by == "auto-failover"
    assert h.count(AuditType.SWITCHOVER) == 1


async def test_no_takeover_with_auto_failover_off(h: Harness) -> None:
    await primary_dies(h)
    async with h.actor(make_cr(autoFailover=False), region=B) as (_, actor):
        await h.clock.advance_settled(120)
        assert not actor.acting()
    assert (await h.witness().read(KEY)).holder == A
    assert h.pair.writes == 0
    assert h.dns.writes == 0


async def test_crash_after_the_handover_resumes_forward_to_the_target(h: Harness) -> None:
    cr = make_cr(switchover={"drainSeconds": 0})
    async with h.actor(cr) as (ref, _):
        await anyio.wait_all_tasks_blocked()
        report = await ref.ask(DryRunRequest(toRegion=B))
        h.pair.faults.add("promote", hang=True)  # the process dies during step 6
        await ref.ask(SwitchoverRequest(toRegion=B, fingerprint=report.planFingerprint))
        await anyio.wait_all_tasks_blocked()
        journal = h.status.current.switchover
        assert journal is not None
        assert journal.step == "promote-new-primary"
        assert "swap-lease" in journal.completed_steps
    assert (await h.witness().read(KEY)).holder == B
    async with h.actor(h.with_status(cr)):
        await h.clock.advance_settled(5)
    assert h.status.current.switchover is None
    assert (await h.witness().read(KEY)).holder == B
    assert h.pair.primaries() == [B]
    assert h.dns.primaries() == {B}
    last = h.status.current.last_switchover
    assert last is not None
    assert last.result == "Succeeded"
    assert h.count(AuditType.SWITCHOVER) == 1


async def test_journal_that_cannot_be_persisted_stops_the_run_before_it_writes(
    h: Harness,
) -> None:
    async with h.actor() as (ref, _):
        await anyio.wait_all_tasks_blocked()
        report = await ref.ask(DryRunRequest(toRegion=B))
        h.status.fail = True
        await ref.ask(SwitchoverRequest(toRegion=B, fingerprint=report.planFingerprint))
        await h.clock.advance_settled(15)
        h.status.fail = False
        await h.clock.advance_settled(10)
    assert h.pair.writes == 0
    assert h.routes.writes == 0
    assert h.dns.writes == 0
    assert (await h.witness().read(KEY)).holder == A
    last = h.status.current.last_switchover
    assert last is not None
    assert last.result == "Failed"
    assert last.failed_at_step == "validate-lease"


async def test_a_second_failover_moves_the_writer_back_once_the_other_region_dies(
    h: Harness,
) -> None:
    """After A → B by auto-failover, B's region dies too: A's instance, whose own status
    still remembers itself as the acting primary, takes the writer role back. The holder
    of the expired lease (B) is the writer until then, not the stale ``actingPrimary``."""
    token = await h.pair.demote(A, new_primary=B)
    await h.pair.promote(B, token=token)
    await h.witness().acquire(KEY, B, 30)  # B's instance held it, then B went dark
    h.pair.unreachable.add(B)
    cr = make_cr(autoFailover=True, autoFailoverObservations=3)
    cr = msgspec.structs.replace(cr, status=ContinuumStatus(acting_primary=A))
    async with h.actor(cr, region=A) as (_, actor):
        await h.clock.advance_settled(1)
        assert actor.acting_primary() == B
        await h.clock.advance_settled(60)
        assert (await h.witness().read(KEY)).holder == A
        assert actor.acting()
    # B's half is unreachable and still primary by its own spec: it fences itself (and is
    # demoted when it returns), which is not this instance's to do.
    assert A in h.pair.primaries()
    last = h.status.current.last_switchover
    assert last is not None
    assert last.reason == "auto-failover"
    assert (last.from_, last.to) == (B, A)


async def test_a_standing_request_does_not_hold_back_the_standbys_failover(h: Harness) -> None:
    """Seed 314267: ``spec.switchover.requested`` stood (the acting instance's to run) while
    the acting region went dark; the standby stopped at the request and never failed over.
    It fails over now, announces no ``cnpg-promotable`` for it (that is the request's run:
    seeds 300217 and others, two such events under one identity), and leaves the request
    for the acting instance to decide."""
    await primary_dies(h)
    cr = make_cr(
        autoFailover=True,
        autoFailoverObservations=3,
        switchover={"requested": True, "targetRegion": B},
    )
    async with h.actor(cr, region=B) as (_, actor):
        await h.clock.advance_settled(54)
        assert (await h.witness().read(KEY)).holder == B
        assert actor.acting()
    last = h.status.current.last_switchover
    assert last is not None
    assert last.reason == "auto-failover"
    assert h.count(AuditType.CNPG_PROMOTABLE) == 0
