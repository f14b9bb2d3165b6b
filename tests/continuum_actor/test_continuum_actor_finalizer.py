"""The CR's finalizer (``docs/decisions.md`` #20): added once when the actor starts managing
the CR; while the CR is being deleted no new switchover starts, the run in flight (or an open
journal found at start) goes to its end, and only then is the finalizer removed and the
actor stopped."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import msgspec
import pytest

from continuum.actors.continuum.finalizing import (
    CONVERGE_GRACE_RENEWALS,
    DELETING_BLOCKER,
    DELETING_REFUSAL,
)
from continuum.actors.continuum.runs import switchover_done
from continuum.actors.replies import SwitchoverRefused
from continuum.actors.runtime import ActorDead, ActorRef
from continuum.clock import FakeClock
from continuum.errors import KubeError
from continuum.messages.commands import DeletionObserved, SpecObserved
from continuum.messages.crd import FINALIZER, Continuum, CopyState
from continuum.messages.requests import DryRunRequest, StatusRequest, SwitchoverRequest
from continuum.messages.status import COND_CONVERGED, LastSwitchover
from continuum.messages.switchover import DryRunReport, StepName, SwitchoverResult
from tests.continuum_actor.harness import KEY, A, B, Harness, make_cr
from tests.switchover.fakes import Faults

pytestmark = pytest.mark.anyio

DELETED_AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def h(fake_clock: FakeClock) -> Harness:
    return Harness(clock=fake_clock)


def finalized(cr: Continuum) -> Continuum:
    """``cr`` as stored once the actor added the finalizer."""
    return msgspec.structs.replace(
        cr, metadata=msgspec.structs.replace(cr.metadata, finalizers=(FINALIZER,))
    )


def deleting(cr: Continuum) -> Continuum:
    """``cr`` as the API server keeps it after ``kubectl delete`` (finalizer still there)."""
    meta = msgspec.structs.replace(
        cr.metadata,
        finalizers=(FINALIZER,),
        deletion_timestamp=DELETED_AT,
        generation=(cr.metadata.generation or 1) + 1,
    )
    return msgspec.structs.replace(cr, metadata=meta)


def kubectl_delete(h: Harness) -> None:
    """The API server's side of the deletion: the finalizer's removal now deletes the CR."""
    h.finalizers.deleting = True


async def dead(ref: ActorRef) -> bool:
    try:
        await ref.ask(StatusRequest())
    except ActorDead:
        return True
    return False


async def start_switchover(ref: ActorRef, to: str = B) -> str:
    report = await ref.ask(DryRunRequest(toRegion=to))
    accepted = await ref.ask(SwitchoverRequest(toRegion=to, fingerprint=report.planFingerprint))
    return str(accepted.id)


async def test_the_finalizer_is_added_once_when_the_actor_starts_managing_the_cr(
    h: Harness,
) -> None:
    async with h.actor():
        await anyio.wait_all_tasks_blocked()
        assert h.finalizers.present
        await h.clock.advance_settled(60)  # six renewals and observations
    assert (h.finalizers.adds, h.finalizers.calls) == (1, 1)
    # A restarted actor whose CR carries the finalizer does not write it again.
    async with h.actor(finalized(make_cr())):
        await anyio.wait_all_tasks_blocked()
        await h.clock.advance_settled(30)
    assert (h.finalizers.adds, h.finalizers.calls) == (1, 1)


async def test_a_failed_add_is_tried_again_at_the_next_renewal_and_then_never(
    h: Harness,
) -> None:
    h.finalizers.fail = True
    async with h.actor():
        await anyio.wait_all_tasks_blocked()
        assert not h.finalizers.present
        h.finalizers.fail = False
        await h.clock.advance_settled(10)
        assert h.finalizers.present
        await h.clock.advance_settled(60)
    assert h.finalizers.adds == 1
    assert h.finalizers.calls == 2  # the refused one, the one that landed


async def test_failed_adds_are_tried_again_after_a_doubling_back_off(h: Harness) -> None:
    """While the API server refuses, the write (which holds the mailbox up to its bound) is
    tried after one renewal interval, then two, four, eight ... at most two minutes apart,
    not on every renewal; once it lands the back-off is forgotten."""
    h.finalizers.fail = True
    async with h.actor():
        await anyio.wait_all_tasks_blocked()
        tried: list[int] = []
        for _ in range(36):  # six minutes of renewals every 10 s
            await h.clock.advance_settled(10)
            tried.append(h.finalizers.calls)
        # The first at start, then at 10, 30, 70, 150 s, then every 120 s (270, 390 ...).
        firsts = sorted({tried.index(n) + 1 for n in tried})
        assert [10 * t for t in firsts] == [10, 30, 70, 150, 270]
        assert h.finalizers.calls == 6
        h.finalizers.fail = False
        await h.clock.advance_settled(120)
        assert h.finalizers.present
        assert h.finalizers.adds == 1


async def test_an_idle_actor_removes_the_finalizer_and_stops_when_the_cr_is_deleted(
    h: Harness,
) -> None:
    cr = make_cr()
    async with h.actor(cr) as (ref, _):
        await anyio.wait_all_tasks_blocked()
        kubectl_delete(h)
        await ref.tell(SpecObserved(continuum=deleting(cr)))
        await anyio.wait_all_tasks_blocked()
        assert h.finalizers.gone
        assert await dead(ref)
    assert h.finalizers.removes == 1
    assert h.pair.writes == 0


async def test_a_deletion_told_while_the_spec_is_invalid_is_acted_on_too(h: Harness) -> None:
    async with h.actor() as (ref, _):
        await anyio.wait_all_tasks_blocked()
        kubectl_delete(h)
        await ref.tell(DeletionObserved(deletion_timestamp=DELETED_AT))
        await anyio.wait_all_tasks_blocked()
        assert h.finalizers.gone
        assert await dead(ref)


async def test_the_finalizer_stays_until_the_run_in_flight_has_ended(h: Harness) -> None:
    cr = make_cr()
    async with h.actor(cr) as (ref, _):
        await anyio.wait_all_tasks_blocked()
        sid = await start_switchover(ref)
        await h.clock.advance_settled(5)  # inside the 10 s drain wait
        kubectl_delete(h)
        await ref.tell(SpecObserved(continuum=deleting(cr)))
        await anyio.wait_all_tasks_blocked()
        assert h.finalizers.present
        assert not h.finalizers.gone
        journal = h.status.current.switchover
        assert journal is not None
        assert journal.id == sid
        assert journal.step == "drain-http"
        await h.clock.advance_settled(15)  # the rest of the drain and the steps
        assert h.finalizers.gone
        assert await dead(ref)
    removed_with = h.finalizers.removed_with  # written before the finalizer went
    assert removed_with is not None
    assert removed_with.switchover is None
    last = removed_with.last_switchover
    assert last is not None
    assert last.id == sid
    assert last.result == "Succeeded"
    assert h.pair.primaries() == [B]
    assert h.routes.serving() == {B}
    assert h.dns.primaries() == {B}
    assert (await h.witness().read(KEY)).holder == B


async def test_no_new_switchover_starts_while_the_cr_is_being_deleted(h: Harness) -> None:
    """The removal is refused here, so the deleting actor stays: a confirmed switchover is
    refused with 409 ``being-deleted``, the DryRun reports the blocker, and the spec's
    request is ignored."""
    cr = make_cr()
    async with h.actor(cr) as (ref, actor):
        await anyio.wait_all_tasks_blocked()
        report = await ref.ask(DryRunRequest(toRegion=B))
        assert isinstance(report, DryRunReport)
        assert report.blockers == []
        h.finalizers.fail = True
        kubectl_delete(h)
        await ref.tell(SpecObserved(continuum=deleting(cr)))
        await anyio.wait_all_tasks_blocked()
        assert not await dead(ref)
        blocked = await ref.ask(DryRunRequest(toRegion=B))
        assert DELETING_BLOCKER in blocked.blockers
        with pytest.raises(SwitchoverRefused) as refused:
            await ref.ask(SwitchoverRequest(toRegion=B, fingerprint=report.planFingerprint))
        assert refused.value.detail.reason == DELETING_REFUSAL
        assert "being deleted" in refused.value.detail.message
        requested = deleting(make_cr(switchover={"requested": True, "targetRegion": B}))
        await ref.tell(SpecObserved(continuum=requested))
        await h.clock.advance_settled(30)
        assert actor.running is None
        assert h.pair.writes == 0
        assert h.status.current.last_switchover is None
        # The API server answers again: the next renewal lets go.
        h.finalizers.fail = False
        await h.clock.advance_settled(10)
        assert h.finalizers.gone
        assert await dead(ref)


async def test_a_restarted_instance_compensates_the_open_journal_then_removes_the_finalizer(
    h: Harness,
) -> None:
    cr = make_cr()
    async with h.actor(cr) as (ref, _):
        await anyio.wait_all_tasks_blocked()
        await start_switchover(ref)
        await h.clock.advance_settled(5)  # inside the 10 s drain wait
        assert h.status.current.switchover is not None
    # The process is gone mid-step; meanwhile the CR was deleted. The new instance finds a
    # CR being deleted with an open journal.
    kubectl_delete(h)
    async with h.actor(h.with_status(deleting(cr))) as (ref, _):
        await h.clock.advance_settled(20)
        assert h.finalizers.gone
        assert await dead(ref)
    assert h.finalizers.adds == 1  # never added again to a CR being deleted
    # The journal was closed, and written, before the finalizer went.
    removed_with = h.finalizers.removed_with
    assert removed_with is not None
    assert removed_with.switchover is None
    last = removed_with.last_switchover
    assert last is not None
    assert last.result == "Compensated"
    assert h.pair.primaries() == [A]
    assert h.routes.serving() == {A}
    assert (await h.witness().read(KEY)).holder == A


async def test_the_finalizer_never_goes_before_the_closed_journal_is_written(
    h: Harness,
) -> None:
    """Found by the deletion sweep (seed 565): the run ended while status writes failed, and
    the finalizer went with the stored journal still open. Now the removal waits for the
    write."""
    cr = make_cr()
    async with h.actor(cr) as (ref, _):
        await anyio.wait_all_tasks_blocked()
        sid = await start_switchover(ref)
        await h.clock.advance_settled(5)  # inside the 10 s drain wait
        kubectl_delete(h)
        await ref.tell(SpecObserved(continuum=deleting(cr)))
        h.status.fail = True
        await h.clock.advance_settled(30)  # the run ends; its status cannot be written
        assert h.status.current.switchover is not None
        assert h.finalizers.present
        assert not await dead(ref)
        h.status.fail = False
        await h.clock.advance_settled(10)  # the next renewal writes it, then lets go
        assert h.finalizers.gone
        assert await dead(ref)
    removed_with = h.finalizers.removed_with
    assert removed_with is not None
    assert removed_with.switchover is None
    assert removed_with.last_switchover is not None
    assert removed_with.last_switchover.id == sid


# --- the writer role never goes to a copy nobody manages; the new writer converges first ---


async def test_a_run_toward_a_region_whose_copy_is_being_deleted_is_compensated(
    h: Harness,
) -> None:
    """The DryRun blocks it; a copy deleted after the preview is caught right before the
    handover (after the journal names ``swap-lease``): the run compensates, A stays."""
    h.copies.copies[B] = CopyState(exists=True, deleting=True)
    async with h.actor() as (ref, _):
        await anyio.wait_all_tasks_blocked()
        blocked = await ref.ask(DryRunRequest(toRegion=B))
        assert any("being deleted" in b and b.startswith("step-5") for b in blocked.blockers)
        h.copies.copies[B] = CopyState(exists=True)
        sid = await start_switchover(ref)
        await h.clock.advance_settled(5)  # inside the 10 s drain wait
        h.copies.copies[B] = CopyState(exists=True, deleting=True)
        await h.clock.advance_settled(20)
    last = h.status.current.last_switchover
    assert last is not None
    assert last.id == sid
    assert last.failed_at_step == "swap-lease"
    assert last.result == "Compensated"
    assert (await h.witness().read(KEY)).holder == A
    assert h.pair.primaries() == [A]
    assert h.routes.serving() == {A}


async def test_a_run_toward_a_region_without_a_copy_is_blocked(h: Harness) -> None:
    h.copies.copies[B] = CopyState(exists=False)
    async with h.actor() as (ref, _):
        await anyio.wait_all_tasks_blocked()
        report = await ref.ask(DryRunRequest(toRegion=B))
        assert any("has no copy" in b for b in report.blockers)
        with pytest.raises(SwitchoverRefused) as refused:
            await ref.ask(SwitchoverRequest(toRegion=B, fingerprint=report.planFingerprint))
        assert refused.value.detail.reason == "blockers"


async def a_to_b(h: Harness) -> Continuum:
    """A → B run by A's instance (drain 0); B's route still serves A (convergence is B's)."""
    cr = make_cr(switchover={"drainSeconds": 0})
    async with h.actor(cr) as (ref, _):
        await h.clock.advance_settled(1)
        await start_switchover(ref)
        await h.clock.advance_settled(5)
    assert (await h.witness().read(KEY)).holder == B
    assert h.routes_b.serving() == {A}
    return cr


async def test_the_new_writer_converges_before_its_deleted_copy_lets_go(h: Harness) -> None:
    cr = await a_to_b(h)
    kubectl_delete(h)
    h.finalizers.present = True
    async with h.actor(h.with_status(deleting(cr)), region=B) as (ref, actor):
        await h.clock.advance_settled(1)
        assert actor.acting()
        assert not h.finalizers.gone  # its region's route still serves A
        await h.clock.advance_settled(40)
        assert h.finalizers.gone
        assert await dead(ref)
    assert h.routes_b.serving() == {B}
    assert h.routes.serving() == {B}
    removed_with = h.finalizers.removed_with
    assert removed_with is not None
    converged = removed_with.condition(COND_CONVERGED)
    assert converged is not None
    assert converged.status == "True"


async def test_a_world_the_writer_cannot_repair_holds_a_deletion_only_for_the_grace(
    h: Harness,
) -> None:
    cr = await a_to_b(h)
    kubectl_delete(h)
    h.finalizers.present = True
    h.routes_b.forbidden = True  # RBAC refuses the write that would converge it
    async with h.actor(h.with_status(deleting(cr)), region=B) as (ref, actor):
        await h.clock.advance_settled(10)
        assert actor.acting()
        await h.clock.advance_settled(CONVERGE_GRACE_RENEWALS * 10 - 20)
        assert not h.finalizers.gone
        await h.clock.advance_settled(30)
        assert h.finalizers.gone
        assert await dead(ref)
    assert h.routes_b.serving() == {A}


async def deleted_writer_with_a_route_unreadable_in_a(h: Harness) -> Continuum:
    """B the writer (after ``a_to_b``), A's route serving A again but unreadable from now
    on, B's copy deleted with its finalizer present: the CR to start B's instance with."""
    cr = await a_to_b(h)
    h.routes.weights = {"shop-" + A: 100, "shop-" + B: 0}
    kubectl_delete(h)
    h.finalizers.present = True
    h.routes.faults.add(
        "read_weights", KubeError("get httproutes: timed out", region=A), times=10**6
    )
    return cr


async def test_a_region_cut_off_for_most_of_the_grace_still_gets_its_route_converged(
    h: Harness,
) -> None:
    """Seed 541251: the writer's grace to converge ran while region A could not be read; A
    answered again one renewal before it ran out, and the deletion let go before the
    convergence (two observations apart) could give A's route to the writer. Now the wait
    for what cannot be read has its own grace, and the grace to converge starts once the
    world is read whole."""
    cr = await deleted_writer_with_a_route_unreadable_in_a(h)
    async with h.actor(h.with_status(deleting(cr)), region=B) as (ref, actor):
        await h.clock.advance_settled(1)
        assert actor.acting()
        await h.clock.advance_settled(CONVERGE_GRACE_RENEWALS * 10 - 21)
        assert not h.finalizers.gone  # A's route cannot be read: within its grace
        assert h.routes.serving() == {A}
        h.routes.faults = Faults()  # A answers again
        await h.clock.advance_settled(10)
        assert not h.finalizers.gone  # seen wrong once: it converges on the second look
        await h.clock.advance_settled(30)
        assert h.finalizers.gone
        assert await dead(ref)
    assert h.routes.serving() == {B}
    assert h.routes_b.serving() == {B}


async def test_a_region_cut_off_for_the_whole_grace_holds_the_deletion_no_longer(
    h: Harness,
) -> None:
    """What cannot be read holds a deletion only for its own grace, which never starts over:
    a region gone for good is let go of (``docs/decisions.md`` #20)."""
    cr = await deleted_writer_with_a_route_unreadable_in_a(h)
    async with h.actor(h.with_status(deleting(cr)), region=B) as (ref, actor):
        await h.clock.advance_settled(1)
        assert actor.acting()
        await h.clock.advance_settled(CONVERGE_GRACE_RENEWALS * 10 - 11)
        assert not h.finalizers.gone
        await h.clock.advance_settled(20)
        assert h.finalizers.gone
        assert await dead(ref)
    assert h.routes.serving() == {A}


async def test_a_standby_waits_while_the_holders_region_runs_a_switchover_to_it(
    h: Harness,
) -> None:
    await h.witness().acquire(KEY, A, 30)
    h.copies.copies[A] = CopyState(exists=True, journal_to=B)
    kubectl_delete(h)
    h.finalizers.present = True
    async with h.actor(deleting(make_cr()), region=B) as (ref, _):
        await h.clock.advance_settled(25)
        assert not h.finalizers.gone
        assert not await dead(ref)
        assert A in h.copies.reads
        # A's run ended (compensated: the lease stays with A): nothing comes to B.
        h.copies.copies[A] = CopyState(exists=True)
        await h.witness().renew(await h.witness().read(KEY))
        await h.clock.advance_settled(10)
        assert h.finalizers.gone
        assert await dead(ref)


async def test_a_deleting_standby_does_not_wait_on_an_old_primary_that_retook_the_lease(
    h: Harness,
) -> None:
    """Seed 3744: B failed over from A (cut off: ``cordon-old-primary`` skipped), so B's
    instance had to see A's Cluster demoted before letting go of its deleted copy; but A
    took the lease back once the partition healed, and A's Cluster, rightly primary again,
    was never going to be demoted: the deletion waited for good. The lease naming A again
    settles it."""
    await h.witness().acquire(KEY, A, 30)
    failover = LastSwitchover(
        id="failover-1",
        from_=A,
        to=B,
        result="Succeeded",
        completed_steps=[s for s in StepName if s is not StepName.CORDON_OLD_PRIMARY],
        started_at=DELETED_AT,
        finished_at=DELETED_AT,
        duration_seconds=1.0,
    )
    cr = deleting(make_cr())
    cr = msgspec.structs.replace(
        cr, status=msgspec.structs.replace(cr.status, last_switchover=failover)
    )
    kubectl_delete(h)
    h.finalizers.present = True
    async with h.actor(cr, region=B) as (ref, actor):
        await h.clock.advance_settled(10)
        assert h.finalizers.gone
        assert await dead(ref)
        assert actor.old_primary_unconfirmed == ""
    assert h.pair.writes == 0  # A's Cluster, the writer's, untouched


async def test_a_failed_run_does_not_make_the_writer_forget_an_uncordoned_old_primary(
    h: Harness,
) -> None:
    """Seed 567360: B failed over from A (cut off: ``cordon-old-primary`` skipped); then a
    failback B → A failed before it wrote anything (A's Cluster unreadable). Taking that run's
    result made B's instance forget A's Cluster, and its deleted copy later let go with A's
    Cluster still primary beside B's. A run that moved nothing keeps the memory."""
    await h.witness().acquire(KEY, B, 30)
    failover = LastSwitchover(
        id="failover-1",
        from_=A,
        to=B,
        result="Succeeded",
        completed_steps=[s for s in StepName if s is not StepName.CORDON_OLD_PRIMARY],
        started_at=DELETED_AT,
        finished_at=DELETED_AT,
        duration_seconds=1.0,
    )
    cr = make_cr()
    cr = msgspec.structs.replace(
        cr, status=msgspec.structs.replace(cr.status, last_switchover=failover)
    )
    h.pair.unreachable.add(A)
    async with h.actor(cr, region=B) as (_, actor):
        await h.clock.advance_settled(1)
        assert actor.old_primary_unconfirmed == A
        failed = SwitchoverResult(
            id="failback-1",
            from_region=B,
            to_region=A,
            ok=False,
            started_at=DELETED_AT.isoformat(),
            finished_at=DELETED_AT.isoformat(),
            failed_step=StepName.CORDON_OLD_PRIMARY,
            error=f'step-2 (cordon-old-primary): cannot read Cluster in ToRegion "{A}"',
            rolled_back=True,
        )
        await switchover_done(actor, failed)
        last = actor.status.last_switchover
        assert last is not None
        assert last.id == "failback-1"
        assert actor.old_primary_unconfirmed == A
