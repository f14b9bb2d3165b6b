"""Switchovers driven through the ContinuumActor: API confirm, CR request, journal, health."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from continuum.actors.continuum.messages import HealthCrashed
from continuum.actors.replies import BadRequest, SwitchoverRefused
from continuum.clock import FakeClock
from continuum.messages.audit import AuditType
from continuum.messages.commands import SpecObserved
from continuum.messages.requests import (
    DryRunRequest,
    HealthRequest,
    StatusRequest,
    SwitchoverRequest,
)
from continuum.messages.switchover import DryRunReport, HealthReport
from tests.continuum_actor.harness import KEY, A, B, Harness, make_cr

pytestmark = pytest.mark.anyio


@pytest.fixture
def h(fake_clock: FakeClock) -> Harness:
    return Harness(clock=fake_clock)


async def settle(h: Harness, seconds: float) -> None:
    await h.clock.advance_settled(seconds)


async def test_dry_run_is_read_only_and_cached(h: Harness) -> None:
    async with h.actor() as (ref, _):
        await anyio.wait_all_tasks_blocked()
        writes = h.store.writes, h.pair.writes, h.routes.writes, h.dns.writes
        events = len(h.sink.events)
        report = await ref.ask(DryRunRequest(toRegion=B))
        again = await ref.ask(DryRunRequest(toRegion=B))
    assert isinstance(report, DryRunReport)
    assert report.blockers == []
    assert [s.name for s in report.steps][5] == "promote-new-primary"
    assert again is report  # served from the cache
    assert (h.store.writes, h.pair.writes, h.routes.writes, h.dns.writes) == writes
    assert len(h.sink.events) == events


async def test_dry_run_to_an_unknown_region_is_a_bad_request(h: Harness) -> None:
    async with h.actor() as (ref, _):
        with pytest.raises(BadRequest, match="not a region") as caught:
            await ref.ask(DryRunRequest(toRegion="nowhere"))
        assert caught.value.field == "body.toRegion"


async def test_a_switchover_to_the_acting_primary_is_a_bad_request_from_its_dryrun(
    h: Harness,
) -> None:
    """The admission rule's ``no-op`` refusal is never reached from the API: the DryRun of a
    plan whose two regions are the same answers 400 first, and nothing runs."""
    async with h.actor() as (ref, actor):
        await anyio.wait_all_tasks_blocked()
        writes = h.store.writes, h.pair.writes, h.routes.writes, h.dns.writes
        with pytest.raises(BadRequest, match="no-op"):
            await ref.ask(SwitchoverRequest(toRegion=A, fingerprint="0123456789abcdef"))
        assert actor.running is None
        assert (h.store.writes, h.pair.writes, h.routes.writes, h.dns.writes) == writes


async def test_confirmed_switchover_runs_seven_steps_and_health_follows_after_delay(
    h: Harness,
) -> None:
    async with h.actor() as (ref, actor):
        await anyio.wait_all_tasks_blocked()
        report = await ref.ask(DryRunRequest(toRegion=B))
        accepted = await ref.ask(SwitchoverRequest(toRegion=B, fingerprint=report.planFingerprint))
        assert accepted.toRegion == B
        await settle(h, 15)  # drain 10 s + steps
        summary = await ref.ask(StatusRequest())
        assert summary.lastSwitchover is not None
        assert summary.lastSwitchover.result == "Succeeded"
        assert summary.actingPrimary == B
        assert not actor.acting()
        assert (await h.witness().read(KEY)).holder == B
        assert h.pair.primaries() == [B]
        assert h.dns.primaries() == {B}
        assert h.routes.serving() == {B}
        assert h.status.current.condition("LastSwitchoverHealthy") is None
        await settle(h, 30)  # CONTINUUM_HEALTH_DELAY_SECONDS default
        cond = h.status.current.condition("LastSwitchoverHealthy")
        assert cond is not None
        assert cond.status == "True", cond.message
        health = await ref.ask(HealthRequest())
        assert isinstance(health, HealthReport)
        assert health.newPrimaryRegion == B
    journal = h.status.journal_steps()
    assert [step for step, _ in journal] == [
        "validate-lease",
        "cordon-old-primary",
        "drain-http",
        "flip-dns",
        "swap-lease",
        "promote-new-primary",
        "audit-emit",
    ]
    assert h.status.current.switchover is None
    assert h.count(AuditType.SWITCHOVER) == 1


async def test_switchover_with_a_stale_fingerprint_is_refused_with_the_current_report(
    h: Harness,
) -> None:
    async with h.actor() as (ref, _):
        await anyio.wait_all_tasks_blocked()
        with pytest.raises(SwitchoverRefused) as refused:
            await ref.ask(SwitchoverRequest(toRegion=B, fingerprint="0123456789abcdef"))
    assert refused.value.detail.reason == "fingerprint-mismatch"
    assert refused.value.detail.report is not None
    assert h.pair.writes == 0


async def test_standby_instance_refuses_to_run_a_switchover(h: Harness) -> None:
    await h.witness().acquire(KEY, A, 30)
    async with h.actor(region=B) as (ref, _):
        await anyio.wait_all_tasks_blocked()
        report = await ref.ask(DryRunRequest(toRegion=B))
        with pytest.raises(SwitchoverRefused) as refused:
            await ref.ask(SwitchoverRequest(toRegion=B, fingerprint=report.planFingerprint))
    assert refused.value.detail.reason == "not-acting"


async def test_cr_requested_switchover_runs_and_clears_the_request(h: Harness) -> None:
    async with h.actor() as (ref, _):
        await anyio.wait_all_tasks_blocked()
        requested = make_cr(switchover={"requested": True, "requestedBy": "ops@acme.io"})
        await ref.tell(SpecObserved(continuum=requested))
        # The request is started when the spec is observed or, at the latest, at the next
        # 10 s tick (seen once in a loaded CI-like run: the run began at the tick); the run
        # itself then takes its 10 s drain. 25 s of fake time covers both.
        await settle(h, 25)
    last = h.status.current.last_switchover
    assert last is not None
    assert last.result == "Succeeded"
    assert last.initiated_by == "ops@acme.io"
    assert h.status.cleared == 1
    assert h.count(AuditType.CNPG_PROMOTABLE) == 1


async def test_a_pending_failback_is_announced_once_across_a_restart(h: Harness) -> None:
    """The announcement is remembered in status (``failbackAnnounced``): the instance of B,
    restarted while the failback still waits for approval, does not announce it again (the
    same occurrence emitted after JetStream's duplicate window would be stored twice)."""
    async with h.actor() as (ref, _):
        await anyio.wait_all_tasks_blocked()
        report = await ref.ask(DryRunRequest(toRegion=B))
        await ref.ask(SwitchoverRequest(toRegion=B, fingerprint=report.planFingerprint))
        await settle(h, 15)
    asked = make_cr(switchover={"requested": True, "targetRegion": A})
    for _ in range(2):  # B's instance, then B's instance again after a restart
        async with h.actor(h.with_status(asked), region=B):
            await settle(h, 25)
        assert (await h.witness().read(KEY)).holder == B
        assert h.status.current.failback_announced == f"{asked.metadata.generation}:{B}->{A}"
    assert h.count(AuditType.FAILBACK_PENDING) == 1


async def test_failback_waits_for_approval_then_runs(h: Harness) -> None:
    async with h.actor() as (ref, _):
        await anyio.wait_all_tasks_blocked()
        report = await ref.ask(DryRunRequest(toRegion=B))
        await ref.ask(SwitchoverRequest(toRegion=B, fingerprint=report.planFingerprint))
        await settle(h, 15)
    # the instance of B now holds the lease; it is asked to move the writer home (A)
    home = h.with_status(make_cr())
    async with h.actor(home, region=B) as (ref, _):
        await settle(h, 10)
        asked = make_cr(switchover={"requested": True, "targetRegion": A})
        await ref.tell(SpecObserved(continuum=asked))
        await settle(h, 15)
        assert (await h.witness().read(KEY)).holder == B
        assert h.count(AuditType.FAILBACK_PENDING) == 1
        approved = make_cr(
            switchover={"requested": True, "targetRegion": A}, failback={"approved": True}
        )
        approved = msgspec.structs.replace(
            approved, metadata=msgspec.structs.replace(approved.metadata, generation=3)
        )
        await ref.tell(SpecObserved(continuum=approved))
        await settle(h, 15)
    assert (await h.witness().read(KEY)).holder == A
    assert h.pair.primaries() == [A]
    assert h.count(AuditType.FAILBACK_COMPLETED) == 1


async def test_audit_outage_never_rolls_back_a_switchover(h: Harness) -> None:
    async with h.actor() as (ref, _):
        await anyio.wait_all_tasks_blocked()
        report = await ref.ask(DryRunRequest(toRegion=B))
        h.sink.faults.add("emit", ConnectionError("nats down"))
        await ref.ask(SwitchoverRequest(toRegion=B, fingerprint=report.planFingerprint))
        await settle(h, 15)
    assert (await h.witness().read(KEY)).holder == B
    assert h.pair.primaries() == [B]
    cond = h.status.current.condition("AuditDelivered")
    assert cond is not None
    assert cond.status == "False"


async def test_crash_mid_drain_then_new_actor_compensates_to_a_consistent_state(
    h: Harness,
) -> None:
    cr = make_cr()
    async with h.actor(cr) as (ref, _):
        await anyio.wait_all_tasks_blocked()
        report = await ref.ask(DryRunRequest(toRegion=B))
        await ref.ask(SwitchoverRequest(toRegion=B, fingerprint=report.planFingerprint))
        await settle(h, 5)  # inside the 10 s drain wait
        assert h.status.current.switchover is not None
        assert h.status.current.switchover.step == "drain-http"
    # the actor is gone mid-step (its child was cancelled); a new one starts from status
    async with h.actor(h.with_status(cr)):
        await settle(h, 20)
    assert h.status.current.switchover is None
    assert (await h.witness().read(KEY)).holder == A
    assert h.pair.primaries() == [A]
    assert h.routes.serving() == {A}
    last = h.status.current.last_switchover
    assert last is not None
    assert last.result == "Compensated"
    assert "drain-http" in last.compensated_steps


async def test_health_before_any_switchover_defers_audit_posted(h: Harness) -> None:
    async with h.actor() as (ref, _):
        await anyio.wait_all_tasks_blocked()
        report = await ref.ask(HealthRequest())
    assert report.newPrimaryRegion == A
    audit = {c.name: c for c in report.checks}["audit-posted"]
    assert audit.deferred
    assert "no switchover" in audit.detail


async def test_a_health_run_that_errors_sets_an_unknown_condition_naming_the_error(
    h: Harness,
) -> None:
    async with h.actor() as (ref, _):
        await anyio.wait_all_tasks_blocked()
        await ref.tell(HealthCrashed(switchover_id="sw-1", error="pair unreadable: 503\nmore"))
        await settle(h, 1)
    cond = h.status.current.condition("LastSwitchoverHealthy")
    assert cond is not None
    assert (cond.status, cond.reason) == ("Unknown", "HealthCheckErrored")
    assert cond.message == "PostSwitchoverHealth errored: pair unreadable: 503"


async def _switched_to_b(h: Harness) -> None:
    async with h.actor() as (ref, _):
        await anyio.wait_all_tasks_blocked()
        report = await ref.ask(DryRunRequest(toRegion=B))
        await ref.ask(SwitchoverRequest(toRegion=B, fingerprint=report.planFingerprint))
        await settle(h, 15)


async def test_ungated_failback_runs_without_approval_and_announces_pending_first(
    h: Harness,
) -> None:
    await _switched_to_b(h)
    asked = make_cr(
        switchover={"requested": True, "targetRegion": A}, failback={"requireApproval": False}
    )
    async with h.actor(h.with_status(asked), region=B) as (_, _a):
        await settle(h, 25)
    assert (await h.witness().read(KEY)).holder == A
    assert h.count(AuditType.FAILBACK_PENDING) == 1
    assert h.count(AuditType.FAILBACK_COMPLETED) == 1
    pending = next(e for e in h.sink.events if e.type is AuditType.FAILBACK_PENDING)
    completed = next(e for e in h.sink.events if e.type is AuditType.FAILBACK_COMPLETED)
    assert h.sink.events.index(pending) < h.sink.events.index(completed)
    cond = h.status.current.condition("FailbackApproval")
    assert cond is not None
    assert (cond.status, cond.reason) == ("True", "NotRequired")


async def test_failback_not_approved_within_the_timeout_is_given_up_across_a_restart(
    h: Harness,
) -> None:
    await _switched_to_b(h)
    asked = make_cr(
        switchover={"requested": True, "targetRegion": A},
        failback={"approvalTimeoutSeconds": 60},
    )
    async with h.actor(h.with_status(asked), region=B) as (_, _a):
        await settle(h, 30)
        cond = h.status.current.condition("FailbackApproval")
        assert cond is not None
        assert (cond.status, cond.reason) == ("False", "AwaitingApproval")
    # the controller restarts mid-wait: the wait began at the condition's transition time
    async with h.actor(h.with_status(asked), region=B) as (_, _a):
        await settle(h, 45)
        cond = h.status.current.condition("FailbackApproval")
        assert cond is not None
        assert (cond.status, cond.reason) == ("False", "ApprovalTimedOut")
        assert "failback approval timeout" in cond.message
        await settle(h, 60)
    assert (await h.witness().read(KEY)).holder == B
    assert h.status.cleared == 1
    assert h.count(AuditType.FAILBACK_COMPLETED) == 0
    # B's instance also converges region B's route, which still sent to A after A → B.
    errors = [
        e
        for e in h.sink.events
        if e.type is AuditType.ERROR and not e.reason.startswith("converged-")
    ]
    assert [e.reason for e in errors] == ["failback-approval-timeout"]
