"""``status.lastLuaRecord`` / ``lastLuaRecordAt`` mirror what the DNS writer last accepted:
the target's records after a successful flip, the old writer's again after a compensation."""

from __future__ import annotations

import anyio
import pytest

from continuum.actors.runtime import ActorRef
from continuum.clock import FakeClock
from continuum.messages.requests import DryRunRequest, SwitchoverRequest
from tests.continuum_actor.harness import A, B, Harness

pytestmark = pytest.mark.anyio


@pytest.fixture
def h(fake_clock: FakeClock) -> Harness:
    return Harness(clock=fake_clock)


async def _switch_to(h: Harness, ref: ActorRef, region: str) -> None:
    report = await ref.ask(DryRunRequest(toRegion=region))
    await ref.ask(SwitchoverRequest(toRegion=region, fingerprint=report.planFingerprint))
    await h.clock.advance_settled(15)  # drain 10 s + steps


async def test_a_successful_flip_mirrors_the_committed_records_and_when(h: Harness) -> None:
    async with h.actor() as (ref, _):
        await anyio.wait_all_tasks_blocked()
        assert h.status.current.last_lua_record is None
        before = h.clock.now()
        await _switch_to(h, ref, B)
        status = h.status.current
        assert status.last_switchover is not None
        assert status.last_switchover.result == "Succeeded"
        assert status.last_lua_record is not None
        committed = sorted(h.dns.records.values(), key=lambda r: r.hostname)
        assert sorted(status.last_lua_record.records, key=lambda r: r.hostname) == committed
        assert {r.primary_region for r in status.last_lua_record.records} == {B}
        assert status.last_lua_record_at is not None
        assert before <= status.last_lua_record_at <= h.clock.now()


async def test_a_compensated_flip_mirrors_the_old_writers_records_again(h: Harness) -> None:
    async with h.actor() as (ref, _):
        await anyio.wait_all_tasks_blocked()
        h.pair.faults.add("promote", RuntimeError("promote refused"), times=10)
        await _switch_to(h, ref, B)
        status = h.status.current
        assert status.last_switchover is not None
        assert status.last_switchover.result != "Succeeded"
        assert h.dns.primaries() == {A}
        assert status.last_lua_record is not None
        assert {r.primary_region for r in status.last_lua_record.records} == {A}
        committed = sorted(h.dns.records.values(), key=lambda r: r.hostname)
        assert sorted(status.last_lua_record.records, key=lambda r: r.hostname) == committed
