"""The plan a confirmed switchover runs hashes to the fingerprint that was previewed and
confirmed — for a planned move (the API's initiator ``api``, the default reason) and for a
failback (which runs with reason ``failback``)."""

from __future__ import annotations

import anyio
import pytest

from continuum.actors.continuum.actor import ContinuumActor
from continuum.actors.continuum.runs import ports
from continuum.actors.runtime import ActorRef
from continuum.clock import FakeClock
from continuum.messages.requests import DryRunRequest, SwitchoverRequest
from continuum.switchover.fingerprint import fingerprint
from continuum.switchover.snapshot import records_for
from tests.continuum_actor.harness import KEY, A, B, Harness, make_cr

pytestmark = pytest.mark.anyio


@pytest.fixture
def h(fake_clock: FakeClock) -> Harness:
    return Harness(clock=fake_clock)


def executed_fingerprint(actor: ContinuumActor) -> str:
    assert actor.running is not None
    plan = actor.running.plan
    records = records_for(plan, ports(actor, writes=False), plan.to_region) if plan.dns else None
    return fingerprint(plan, records)


async def _confirm(ref: ActorRef, actor: ContinuumActor, to: str, *, by: str) -> str:
    report = await ref.ask(DryRunRequest(toRegion=to))
    assert not report.blockers, report.blockers
    accepted = await ref.ask(
        SwitchoverRequest(toRegion=to, fingerprint=report.planFingerprint, initiatedBy=by)
    )
    assert accepted.planFingerprint == report.planFingerprint
    assert executed_fingerprint(actor) == report.planFingerprint
    assert actor.running is not None
    assert actor.running.plan.initiated_by == by
    return actor.running.plan.reason


async def test_the_executed_plan_hashes_to_the_confirmed_fingerprint(h: Harness) -> None:
    async with h.actor() as (ref, actor):
        await anyio.wait_all_tasks_blocked()
        assert await _confirm(ref, actor, B, by="api") == "operator-requested"
        await h.clock.advance_settled(15)
    approved = make_cr(failback={"approved": True})
    home = h.with_status(approved)
    async with h.actor(home, region=B) as (ref, actor):
        await h.clock.advance_settled(10)
        assert await _confirm(ref, actor, A, by="ops@acme.io") == "failback"
        await h.clock.advance_settled(15)
    assert (await h.witness().read(KEY)).holder == A
    last = h.status.current.last_switchover
    assert last is not None
    assert last.reason == "failback"
