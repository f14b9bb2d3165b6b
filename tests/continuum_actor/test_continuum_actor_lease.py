"""Lease renewal in the ContinuumActor, on the fake clock."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from continuum.clock import FakeClock
from continuum.messages.audit import AuditType
from continuum.messages.commands import SpecObserved
from tests.continuum_actor.harness import KEY, A, B, Harness, make_cr

pytestmark = pytest.mark.anyio


@pytest.fixture
def h(fake_clock: FakeClock) -> Harness:
    return Harness(clock=fake_clock)


def lease_held(h: Harness) -> tuple[str, str]:
    cond = h.status.current.condition("LeaseHeld")
    assert cond is not None
    return cond.status, cond.reason


async def test_actor_acquires_its_lease_on_start_and_reports_healthy(h: Harness) -> None:
    async with h.actor() as (_, actor):
        await anyio.wait_all_tasks_blocked()
        lease = await h.witness().read(KEY)
        assert lease.holder == A
        assert lease.generation == 1
        assert actor.acting()
        assert h.status.current.phase == "Healthy"
        assert h.status.current.acting_primary == A
        assert lease_held(h) == ("True", "HeldBySelf")
        assert h.count(AuditType.LEASE_ACQUIRED) == 1
        assert h.count(AuditType.CR_CREATED) == 1


async def test_renewals_follow_renew_seconds_on_the_fake_clock(h: Harness) -> None:
    async with h.actor():
        await h.clock.advance_settled(35)
        lease = await h.witness().read(KEY)
    # acquired at t=0 (gen 1), renewed at 10, 20, 30
    assert lease.generation == 4
    assert lease.holder == A


async def test_cr_created_is_emitted_once_per_uid_across_restarts(h: Harness) -> None:
    cr = make_cr()
    async with h.actor(cr):
        await anyio.wait_all_tasks_blocked()
    async with h.actor(h.with_status(cr)):
        await anyio.wait_all_tasks_blocked()
    assert h.count(AuditType.CR_CREATED) == 1
    assert h.status.current.cr_created_announced == "uid-1"


async def test_standby_instance_never_acquires_a_free_lease_of_the_primary(h: Harness) -> None:
    async with h.actor(region=B) as (_, actor):
        await h.clock.advance_settled(25)
        assert not actor.acting()
        assert (await h.witness().read(KEY)).holder == ""
        assert h.count(AuditType.LEASE_ACQUIRED) == 0


async def test_restart_reads_the_lease_and_adopts_it_without_a_new_acquire(h: Harness) -> None:
    first = await h.witness().acquire(KEY, A, 30)
    async with h.actor() as (_, actor):
        await anyio.wait_all_tasks_blocked()
        lease = await h.witness().read(KEY)
        assert actor.acting()
    assert lease.holder == A
    assert lease.acquired_at == first.acquired_at  # adopted (renewed), not re-acquired
    assert lease.generation == first.generation + 1


async def test_restart_never_acts_on_a_lease_held_by_another_region(h: Harness) -> None:
    await h.witness().acquire(KEY, B, 30)
    async with h.actor() as (_, actor):
        await h.clock.advance_settled(15)
        assert not actor.acting()
        assert lease_held(h) == ("False", "HeldByPeer")
        assert (await h.witness().read(KEY)).holder == B


async def test_witness_down_stops_acting_before_the_ttl_and_says_so(h: Harness) -> None:
    async with h.actor() as (_, actor):
        await anyio.wait_all_tasks_blocked()
        h.store.available = False
        await h.clock.advance_settled(20)
        assert actor.acting()  # 20 s since the last renew < 30 - 5
        await h.clock.advance_settled(10)
        assert not actor.acting()  # 30 s > ttl - safety margin (25 s)
        assert lease_held(h) == ("False", "RenewOverdue")
        assert h.status.current.phase == "Degraded"
    lost = [e for e in h.sink.events if e.type is AuditType.LEASE_LOST]
    assert [e.reason for e in lost] == ["renew-overdue"]
    assert h.count(AuditType.LEASE_COLLISION) == 0


async def test_lost_lease_then_reacquire_meeting_another_holder_is_a_collision(
    h: Harness,
) -> None:
    async with h.actor() as (_, actor):
        await anyio.wait_all_tasks_blocked()
        h.store.available = False
        await h.clock.advance_settled(31)  # our lease expires at the witness meanwhile
        h.store.available = True
        await h.witness().acquire(KEY, B, 30)  # the other region takes the expired slot
        await h.clock.advance_settled(10)
        assert not actor.acting()
    types = [e.type for e in h.sink.events]
    assert AuditType.LEASE_LOST in types
    collision = [e for e in h.sink.events if e.type is AuditType.LEASE_COLLISION]
    assert len(collision) == 1
    assert collision[0].reason == "lease-collision"
    assert B in collision[0].message


async def test_lost_lease_then_free_slot_is_reacquired_without_collision(h: Harness) -> None:
    async with h.actor() as (_, actor):
        await anyio.wait_all_tasks_blocked()
        lease = await h.witness().read(KEY)
        await h.witness().release(lease)  # someone released our slot behind our back
        await h.clock.advance_settled(10)
        assert actor.acting()
    assert h.count(AuditType.LEASE_LOST) == 1
    assert h.count(AuditType.LEASE_COLLISION) == 0
    assert h.count(AuditType.LEASE_ACQUIRED) == 2


async def test_witness_unavailable_never_produces_a_collision_event(h: Harness) -> None:
    async with h.actor():
        await anyio.wait_all_tasks_blocked()
        h.store.available = False
        await h.clock.advance_settled(60)
    assert h.count(AuditType.LEASE_COLLISION) == 0


async def test_renew_interval_change_applies_without_restart(h: Harness) -> None:
    cr = make_cr()
    async with h.actor(cr) as (ref, _):
        await h.clock.advance_settled(10)
        assert (await h.witness().read(KEY)).generation == 2
        faster = make_cr(
            leaseClient={"kind": "in-memory", "config": {"ttlSeconds": 30, "renewSeconds": 2}}
        )
        faster = msgspec.structs.replace(
            faster, metadata=msgspec.structs.replace(faster.metadata, generation=2)
        )
        await ref.tell(SpecObserved(continuum=faster))
        await h.clock.advance_settled(10)
        assert (await h.witness().read(KEY)).generation == 7  # 5 renewals in 10 s


async def test_config_changed_fires_only_for_switchover_relevant_fields(h: Harness) -> None:
    cr = make_cr()
    async with h.actor(cr) as (ref, _):
        await anyio.wait_all_tasks_blocked()
        approved = make_cr(failback={"approved": True})
        await ref.tell(SpecObserved(continuum=approved))
        await anyio.wait_all_tasks_blocked()
        assert h.count(AuditType.CONFIG_CHANGED) == 0
        drained = make_cr(switchover={"drainSeconds": 3}, failback={"approved": True})
        await ref.tell(SpecObserved(continuum=drained))
        await anyio.wait_all_tasks_blocked()
    changed = [e for e in h.sink.events if e.type is AuditType.CONFIG_CHANGED]
    assert len(changed) == 1
    assert "prev=" in changed[0].message
    assert "cur=" in changed[0].message
    assert A in changed[0].message
    assert B in changed[0].message


async def test_a_hanging_witness_is_bounded_and_the_actor_stops_acting_in_time(
    h: Harness,
) -> None:
    async with anyio.create_task_group() as tg:
        async with h.actor() as (ref, actor):
            await anyio.wait_all_tasks_blocked()
            for witness in h.witnesses:
                witness.faults.add("renew", hang=True, times=100)
            await h.clock.advance_settled(40)
            assert ref.alive
            assert not actor.acting()
            assert lease_held(h) == ("False", "RenewOverdue")
            # a renew is hanging right now (bounded at 5 s): let fake time run out the bound
            tg.start_soon(h.clock.autojump)
        tg.cancel_scope.cancel()


async def test_reconcile_success_is_emitted_on_change_and_heartbeat_not_every_tick(
    h: Harness,
) -> None:
    async with h.actor(reconcile_heartbeat_seconds=60.0):
        await h.clock.advance_settled(50)  # five quiet renew ticks
        assert h.count(AuditType.RECONCILE_SUCCESS) == 1
        await h.clock.advance_settled(20)  # the heartbeat is due once
        assert h.count(AuditType.RECONCILE_SUCCESS) == 2


async def test_a_state_entered_again_is_a_new_reconcile_event_not_a_copy(h: Harness) -> None:
    """Healthy → Degraded (the writer's Cluster fenced from outside) → Healthy again, in one
    epoch and well inside one heartbeat: three reconcile-success occurrences, three eventIds
    (an identity repeated for the second Healthy would be dropped by JetStream as a
    duplicate, or stored twice beyond its window)."""
    async with h.actor(reconcile_heartbeat_seconds=3600.0) as (_, actor):
        await h.clock.advance_settled(10)
        await h.pair.fence(A)
        for _ in range(4):  # observed, converged, observed agreeing again
            await h.clock.advance_settled(10)
        assert actor.status.phase == "Healthy"
    events = [e for e in h.sink.events if e.type is AuditType.RECONCILE_SUCCESS]
    phases = [e.message.rpartition("phase ")[2].rstrip(")") for e in events]
    assert phases[:3] == ["Healthy", "Degraded", "Healthy"], phases
    assert len({e.eventId for e in events}) == len(events)


async def test_quiet_renewals_write_no_status(h: Harness) -> None:
    async with h.actor() as (_, actor):
        await h.clock.advance_settled(20)
        before = len(h.status.writes)
        await h.clock.advance_settled(120)  # twelve renewals, nothing else changes
        written = len(h.status.writes) - before
        live = actor.lease_view
    # The lease fields are written with a change of holder only; the live expiry stays in
    # memory (served by the API).
    assert written == 0
    assert live is not None
    assert live.expires_at is not None
    assert h.status.current.lease_expires_at is not None
    assert live.expires_at > h.status.current.lease_expires_at


async def test_a_released_lease_is_claimed_by_the_region_whose_cluster_is_primary(
    h: Harness,
) -> None:
    """Seed 419868: a failover's undo released the lease while the lost region's Cluster,
    never cordoned, stayed primary; each instance remembered the other region as the writer
    (``actingPrimary``) and neither claimed the slot. A released slot is claimed by the
    region whose Cluster the last observation found the one primary, whatever its status
    remembers."""
    for half in h.pair.halves.values():
        half.replica_primary = h.pair.halves[B].name  # B's Cluster is the primary
    cr = make_cr()
    cr = msgspec.structs.replace(cr, status=msgspec.structs.replace(cr.status, acting_primary=A))
    async with h.actor(cr, region=B) as (_, actor):
        await h.clock.advance_settled(25)
        assert actor.acting()
        assert (await h.witness().read(KEY)).holder == B
        assert actor.observed_primary == B


async def test_a_released_lease_is_not_claimed_while_the_pair_shows_another_primary(
    h: Harness,
) -> None:
    """The other way round: B's status remembers B as the writer, but the pair shows A's
    Cluster primary; B's instance leaves the released slot to A — at start too, where it
    waits for its first observation instead of claiming on its memory."""
    await h.witness().release(await h.witness().acquire(KEY, A, 30))
    cr = make_cr()
    cr = msgspec.structs.replace(cr, status=msgspec.structs.replace(cr.status, acting_primary=B))
    async with h.actor(cr, region=B) as (_, actor):
        await h.clock.advance_settled(25)
        assert not actor.acting()
        assert (await h.witness().read(KEY)).holder == ""
