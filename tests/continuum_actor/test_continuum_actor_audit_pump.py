"""The actor's own audit events reach the publisher in order, through a pump task that runs
only while there is something to hand over, with back-pressure past ``AUDIT_BACKLOG``."""

from __future__ import annotations

import anyio
import pytest

from continuum.actors.continuum import actor as actor_module
from continuum.clock import FakeClock
from continuum.messages.audit import AuditEvent, AuditType
from tests.continuum_actor.harness import Harness
from tests.switchover.fakes import RecordingSink

pytestmark = pytest.mark.anyio


class GatedSink(RecordingSink):
    """Records events, each only once the gate is open."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = anyio.Event()

    async def emit(self, event: AuditEvent) -> None:
        await self.gate.wait()
        await super().emit(event)


@pytest.fixture
def h(fake_clock: FakeClock) -> Harness:
    return Harness(clock=fake_clock)


async def test_an_actor_with_nothing_to_say_runs_no_pump(h: Harness) -> None:
    async with h.actor() as (_, actor):
        await h.clock.advance_settled(30)
        assert h.count(AuditType.CR_CREATED) == 1
        assert actor._audit_pumping is False
        assert not actor._audit_queue


async def test_events_arrive_in_order_and_emitters_wait_past_the_backlog(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(actor_module, "AUDIT_BACKLOG", 3)
    sink = GatedSink()
    async with h.actor(audit=sink) as (_, actor):
        await anyio.wait_all_tasks_blocked()  # start-up's own events wait at the gate
        queued = len(actor._audit_queue or ())
        emitted: list[int] = []

        async def emit_all() -> None:
            for i in range(6):
                await actor.emit(AuditType.RECONCILE_SUCCESS, identity=("t", i), reason=str(i))
                emitted.append(i)

        async with anyio.create_task_group() as tg:
            tg.start_soon(emit_all)
            await anyio.wait_all_tasks_blocked()
            # The queue is full: the emitter waits instead of dropping or growing it.
            assert len(actor._audit_queue or ()) == 3
            assert len(emitted) == 3 - queued
            sink.gate.set()
        await anyio.wait_all_tasks_blocked()
        assert emitted == list(range(6))
        assert actor._audit_pumping is False
    mine = [e.reason for e in sink.events if e.type is AuditType.RECONCILE_SUCCESS]
    assert mine[-6:] == [str(i) for i in range(6)]
