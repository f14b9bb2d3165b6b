"""Property: whatever point the process dies at, every accepted audit event is either in the
stream already or in the durable store, so the next start publishes it; and once a final
incarnation drains, every accepted event is in the stream and the store is empty.

The durable side is the real :class:`DurableOutbox` and :class:`AuditOutbox` over a
:class:`MemoryOutboxStore` (the ConfigMap store has its own tests against the emulator); the
stream is modelled as JetStream behaves inside its duplicate window: a set of ``eventId``s.
A crash throws away every in-memory object (outbox, durable outbox, the writer task) at an
arbitrary point between operations: after an accept, after a publish before its ack, after an
ack before the record's deletion, while a store write is failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from continuum.audit.durable import DurableOutbox
from continuum.audit.outbox import AuditOutbox, Pending
from continuum.audit.store import MemoryOutboxStore
from continuum.clock import FakeClock
from continuum.messages.audit import AuditType, new_event

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("emit"), st.integers(0, 3)),
        st.tuples(st.just("send"), st.integers(1, 4)),
        st.tuples(st.just("ack"), st.integers(1, 4)),
        st.tuples(st.just("settle"), st.just(0)),
        st.tuples(st.just("fail-write"), st.integers(1, 3)),
        st.tuples(st.just("crash"), st.just(0)),
    ),
    max_size=60,
)


@dataclass
class World:
    """What outlives a crash: the durable store, the stream, and the test's own record."""

    clock: FakeClock
    store: MemoryOutboxStore = field(default_factory=MemoryOutboxStore)
    stream: set[str] = field(default_factory=set)
    publishes: int = 0
    accepted: list[str] = field(default_factory=list)
    counter: int = 0


@dataclass
class Process:
    """What a crash loses."""

    durable: DurableOutbox
    outbox: AuditOutbox
    scope: anyio.CancelScope
    in_flight: list[Pending] = field(default_factory=list)


async def boot(world: World, tg: anyio.abc.TaskGroup) -> Process:
    durable = DurableOutbox(world.store, clock=world.clock)
    outbox = AuditOutbox(limit=10_000)
    for record in await durable.recover():
        for event in record.events:
            outbox.add(event, now=world.clock.monotonic(), record=record.name)
    scope = anyio.CancelScope()

    async def writer() -> None:
        with scope:
            await durable.run()

    tg.start_soon(writer)
    return Process(durable=durable, outbox=outbox, scope=scope)


def assert_nothing_lost(world: World) -> None:
    durable = set(world.store.pending_event_ids())
    lost = [i for i in world.accepted if i not in world.stream and i not in durable]
    assert lost == [], f"accepted events neither stored nor durable: {lost}"


async def run(ops: list[tuple[str, int]]) -> None:
    world = World(clock=FakeClock(wall_start=datetime(2026, 1, 1, tzinfo=UTC)))
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: world.clock.autojump(threshold=0.0))
        proc = await boot(world, tg)
        for op, arg in ops:
            if op == "emit":
                world.counter += 1
                event = new_event(
                    AuditType.CONFIG_CHANGED,
                    continuum=f"ns/cr-{arg}",
                    occurred_at=world.clock.now(),
                    identity=(world.counter,),
                )
                record = await proc.durable.commit(event)
                proc.outbox.add(event, now=world.clock.monotonic(), record=record)
                world.accepted.append(event.eventId)
            elif op == "send":
                batch = proc.outbox.take(arg, now=world.clock.monotonic())
                for pending in batch:
                    world.stream.add(pending.event.eventId)
                    world.publishes += 1
                proc.in_flight.extend(batch)
            elif op == "ack":
                for pending in proc.in_flight[:arg]:
                    if proc.outbox.stored(pending.continuum, pending.event.eventId):
                        proc.durable.settled(pending.record)
                del proc.in_flight[:arg]
            elif op == "settle":
                # Let every other task run until blocked: a sleep on the fake clock returns
                # once the autojump task finds everything blocked. (Calling
                # wait_all_tasks_blocked here, beside the autojump's own, could livelock:
                # each saw the other as runnable.)
                await world.clock.sleep(1e-6)
            elif op == "fail-write":
                world.store.fail_writes = arg
            elif op == "crash":
                proc.scope.cancel()
                proc = await boot(world, tg)
            assert_nothing_lost(world)
        # The last incarnation: a fresh start that drains everything.
        proc.scope.cancel()
        world.store.fail_writes = 0
        proc = await boot(world, tg)
        while len(proc.outbox):
            for pending in proc.outbox.take(100, now=world.clock.monotonic()):
                world.stream.add(pending.event.eventId)
                proc.outbox.stored(pending.continuum, pending.event.eventId)
                proc.durable.settled(pending.record)
        assert await proc.durable.drain_deletions(60.0)
        tg.cancel_scope.cancel()
    assert set(world.accepted) <= world.stream
    assert world.store.records == {}


@settings(max_examples=100, deadline=None)
@given(OPS)
def test_the_pending_set_survives_any_restart_point(ops: list[tuple[str, int]]) -> None:
    anyio.run(run, ops, backend="asyncio")
