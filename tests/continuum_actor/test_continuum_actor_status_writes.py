"""The actor's routine writes (status, finalizer) are made from child tasks through the
process's write queue, never in the mailbox (``docs/decisions.md`` #33): while the API server
keeps them waiting the lease is renewed and requests are answered; at most one status write
is in flight and the changes made meanwhile go with the next; an essential write waits for
the one in flight and lands after it; waiting in the queue never counts against a write's
timeout. Fake time throughout."""

from __future__ import annotations

import anyio
import pytest

from continuum.actors.continuum.startup import StartGate
from continuum.actors.continuum.write_queue import WriteQueue
from continuum.clock import FakeClock
from continuum.messages.commands import SpecInvalid
from continuum.messages.requests import StatusRequest
from continuum.messages.status import COND_SPEC_VALID, ContinuumStatus
from tests.continuum_actor.harness import (
    KEY,
    Harness,
    RecordingFinalizers,
    RecordingStatusStore,
    make_cr,
)

pytestmark = pytest.mark.anyio

LEASE = {"kind": "in-memory", "config": {"ttlSeconds": 15, "renewSeconds": 2}}


class HeldStatusStore(RecordingStatusStore):
    """Status writes wait while ``held`` (an API server that keeps them waiting)."""

    def __init__(self) -> None:
        super().__init__()
        self.held: anyio.Event | None = None
        self.in_flight = 0
        self.most_in_flight = 0
        self.previous: list[ContinuumStatus | None] = []

    async def patch_status(
        self, key: str, status: ContinuumStatus, *, previous: ContinuumStatus | None
    ) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.held is not None:
                await self.held.wait()
            self.previous.append(previous)
            await super().patch_status(key, status, previous=previous)
        finally:
            self.in_flight -= 1


class HeldFinalizers(RecordingFinalizers):
    """Finalizer writes wait while ``held``."""

    def __init__(self) -> None:
        super().__init__()
        self.held: anyio.Event | None = None

    async def add_finalizer(self, key: str) -> None:
        if self.held is not None:
            await self.held.wait()
        await super().add_finalizer(key)


@pytest.fixture
def h(fake_clock: FakeClock) -> Harness:
    return Harness(clock=fake_clock, status=HeldStatusStore(), finalizers=HeldFinalizers())


def store(h: Harness) -> HeldStatusStore:
    assert isinstance(h.status, HeldStatusStore)
    return h.status


async def holding_a_slot(queue: WriteQueue, until: anyio.Event) -> None:
    """Other actors' write: holds one of ``queue``'s slots until ``until`` is set."""
    async with queue.slot():
        await until.wait()


async def starting(gate: StartGate, clock: FakeClock, until: anyio.Event) -> None:
    """Another actor's start-up: under way at ``gate`` until ``until`` is set."""
    async with gate.admitted(clock):
        await until.wait()


async def writing(queue: WriteQueue, wrote: list[str], name: str) -> None:
    """A routine write: notes ``name`` once ``queue`` lets it go."""
    async with queue.slot():
        wrote.append(name)


def spec_valid_message(status: ContinuumStatus) -> str:
    cond = status.condition(COND_SPEC_VALID)
    return cond.message if cond is not None else ""


async def test_a_status_write_kept_waiting_holds_neither_the_mailbox_nor_renewals(
    h: Harness,
) -> None:
    async with h.actor(make_cr(leaseClient=LEASE)) as (ref, actor):
        await h.clock.advance_settled(1)
        assert actor.acting()
        store(h).held = anyio.Event()
        await ref.tell(SpecInvalid(key=KEY, field="spec.x", message="bad"))
        await anyio.wait_all_tasks_blocked()
        assert store(h).in_flight == 1
        assert actor.lease_view is not None
        expires = actor.lease_view.expires_at
        await h.clock.advance_settled(6)  # three renewals fall due meanwhile ...
        assert actor.lease_view.expires_at > expires  # ... and are made
        assert actor.acting()
        with anyio.fail_after(1):  # the mailbox answers (the fake clock stands still)
            assert (await ref.ask(StatusRequest())).acting
        store(h).held.set()
        await anyio.wait_all_tasks_blocked()
    assert spec_valid_message(h.status.current) == "spec.x: bad"


async def test_changes_made_while_a_write_waits_go_with_the_next_one(h: Harness) -> None:
    async with h.actor() as (ref, _):
        await h.clock.advance_settled(1)
        store(h).held = anyio.Event()
        before = len(store(h).writes)
        for n in range(5):
            await ref.tell(SpecInvalid(key=KEY, field="spec.x", message=f"bad {n}"))
        await anyio.wait_all_tasks_blocked()
        store(h).held.set()
        store(h).held = None
        await anyio.wait_all_tasks_blocked()
    written = store(h).writes[before:]
    assert store(h).most_in_flight == 1
    assert [spec_valid_message(s) for s in written] == ["spec.x: bad 0", "spec.x: bad 4"]
    # Each write is the diff from the status the one before it stored.
    assert store(h).previous[-1] == written[0]


async def test_an_essential_write_waits_for_the_write_in_flight_and_lands_after_it(
    h: Harness,
) -> None:
    async with h.actor() as (ref, actor):
        await h.clock.advance_settled(1)
        store(h).held = anyio.Event()
        await ref.tell(SpecInvalid(key=KEY, field="spec.x", message="routine"))
        await anyio.wait_all_tasks_blocked()
        results: list[bool] = []

        async def essential() -> None:
            actor.spec_error = ("spec.y", "essential")
            actor.condition(COND_SPEC_VALID, "False", "Invalid", "spec.y: essential")
            results.append(await actor.flush(essential=True))

        async with anyio.create_task_group() as tg:
            tg.start_soon(essential)
            await anyio.wait_all_tasks_blocked()
            assert results == []  # waits for the routine write in flight
            assert store(h).most_in_flight == 1
            store(h).held.set()
            store(h).held = None
    assert results == [True]
    messages = [spec_valid_message(s) for s in store(h).writes[-2:]]
    assert messages == ["spec.x: routine", "spec.y: essential"]
    assert store(h).previous[-1] == store(h).writes[-2]


async def test_a_finalizer_write_kept_waiting_holds_neither_the_mailbox_nor_renewals(
    h: Harness,
) -> None:
    assert isinstance(h.finalizers, HeldFinalizers)
    h.finalizers.held = anyio.Event()
    async with h.actor(make_cr(leaseClient=LEASE)) as (ref, actor):
        await h.clock.advance_settled(1)
        assert actor.acting()
        assert actor.lease_view is not None
        expires = actor.lease_view.expires_at
        await h.clock.advance_settled(3)  # the add waits (bound 5 s); renewals at 2 and 4 s
        assert actor.lease_view.expires_at > expires
        assert not h.finalizers.present
        assert actor.finalizer_retry.adding
        with anyio.fail_after(1):
            assert (await ref.ask(StatusRequest())).acting
        h.finalizers.held.set()
        await anyio.wait_all_tasks_blocked()
        assert h.finalizers.present
        assert actor.finalizer_held
        assert h.finalizers.adds == 1  # one attempt in flight at a time


async def test_waiting_in_the_write_queue_never_counts_against_a_writes_timeout(
    h: Harness,
) -> None:
    """The process's one write slot is taken for a minute (by other actors' writes): the
    new actor's finalizer add waits for it and lands once it frees (its 5 s bound starts
    then) instead of timing out unsent. Its status write, finding the queue crowded (as
    many waiting as there are slots), is not queued as a task at all: a later renewal's
    flush makes it."""
    queue = WriteQueue(concurrency=1)
    freed = anyio.Event()

    async with anyio.create_task_group() as tg:
        tg.start_soon(holding_a_slot, queue, freed)
        await anyio.wait_all_tasks_blocked()
        async with h.actor(write_queue=queue) as (_, actor):
            await h.clock.advance_settled(60)
            assert queue.waiting == 1  # the finalizer add; the status write was not queued
            assert queue.crowded
            assert not actor.writing_status
            assert not h.finalizers.present
            assert actor.finalizer_retry.failures == 0
            assert store(h).writes == []
            freed.set()
            await anyio.wait_all_tasks_blocked()
            assert h.finalizers.present
            assert actor.finalizer_held
            assert store(h).writes == []  # ... until the next renewal
            await h.clock.advance_settled(actor.renew_seconds)
            assert h.status.current.phase == "Healthy"
    assert h.finalizers.adds == 1


async def test_a_crowded_queue_defers_routine_writes_to_the_next_renewal(
    fake_clock: FakeClock,
) -> None:
    """While start-ups are under way in the process, an actor queues no routine write (no
    task waits): its status is written by the first flush after they are through."""
    h = Harness(clock=fake_clock)
    gate = StartGate(concurrency=1)
    queue = WriteQueue(yield_to=gate)
    finish = anyio.Event()

    async with anyio.create_task_group() as tg:
        tg.start_soon(starting, gate, fake_clock, finish)
        await anyio.wait_all_tasks_blocked()
        async with h.actor(write_queue=queue) as (_, actor):
            await h.clock.advance_settled(1)
            assert queue.crowded
            assert not actor.writing_status
            assert not actor.finalizer_retry.adding
            assert h.status.writes == []
            assert not h.finalizers.present
            finish.set()
            await anyio.wait_all_tasks_blocked()
            assert not queue.crowded
            await h.clock.advance_settled(actor.renew_seconds)
            assert h.status.current.phase == "Healthy"
            assert h.finalizers.present


async def test_the_write_queue_admits_at_most_its_concurrency() -> None:
    queue = WriteQueue(concurrency=2)
    release = anyio.Event()
    admitted: list[int] = []

    async def write(n: int) -> None:
        async with queue.slot():
            admitted.append(n)
            await release.wait()

    async with anyio.create_task_group() as tg:
        for n in range(5):
            tg.start_soon(write, n)
        await anyio.wait_all_tasks_blocked()
        assert len(admitted) == 2
        assert (queue.writing, queue.waiting) == (2, 3)
        release.set()
    assert sorted(admitted) == [0, 1, 2, 3, 4]
    assert (queue.writing, queue.waiting) == (0, 0)
    with pytest.raises(ValueError, match="at least 1"):
        WriteQueue(concurrency=0)


async def test_the_write_queue_yields_to_start_ups_under_way(fake_clock: FakeClock) -> None:
    """While an actor is starting (waiting for the gate or admitted) no routine write is
    admitted; once the last start-up leaves the gate, the writes go."""
    gate = StartGate(concurrency=1)
    queue = WriteQueue(concurrency=4, yield_to=gate)
    finish = anyio.Event()
    wrote: list[str] = []

    async with anyio.create_task_group() as tg:
        tg.start_soon(starting, gate, fake_clock, finish)
        tg.start_soon(starting, gate, fake_clock, finish)  # waits for the gate's one slot
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(writing, queue, wrote, "a")
        tg.start_soon(writing, queue, wrote, "b")
        await anyio.wait_all_tasks_blocked()
        assert wrote == []
        assert (gate.starting, gate.waiting) == (1, 1)
        finish.set()
        await anyio.wait_all_tasks_blocked()
    assert sorted(wrote) == ["a", "b"]
    await gate.quiet()  # none under way: at once


async def test_writes_queued_before_a_start_up_began_wait_for_it_too(
    fake_clock: FakeClock,
) -> None:
    """Writes already waiting for a slot when actors start (a takeover during a fleet's first
    writes) are not sent until those start-ups are through."""
    gate = StartGate(concurrency=1)
    queue = WriteQueue(concurrency=1, yield_to=gate)
    slot_free = anyio.Event()
    finish = anyio.Event()
    wrote: list[str] = []

    async with anyio.create_task_group() as tg:
        tg.start_soon(holding_a_slot, queue, slot_free)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(writing, queue, wrote, "queued")
        await anyio.wait_all_tasks_blocked()
        assert queue.waiting == 1
        tg.start_soon(starting, gate, fake_clock, finish)
        await anyio.wait_all_tasks_blocked()
        slot_free.set()
        await anyio.wait_all_tasks_blocked()
        assert wrote == []  # it has the slot, but a start-up is under way
        finish.set()
        await anyio.wait_all_tasks_blocked()
    assert wrote == ["queued"]


async def test_an_essential_write_supersedes_a_routine_write_still_queued(h: Harness) -> None:
    """A routine write waiting for a slot (it may wait as long as start-ups are under way) is
    not waited for: the essential write takes its place at once and the routine one never
    sends anything."""
    queue = WriteQueue(concurrency=1)
    freed = anyio.Event()
    async with h.actor(write_queue=queue) as (ref, actor):
        await h.clock.advance_settled(1)
        before = len(store(h).writes)
        async with anyio.create_task_group() as tg:
            tg.start_soon(holding_a_slot, queue, freed)
            await anyio.wait_all_tasks_blocked()
            await ref.tell(SpecInvalid(key=KEY, field="spec.x", message="routine"))
            await anyio.wait_all_tasks_blocked()
            assert actor.writing_status
            assert queue.waiting == 1
            actor.condition(COND_SPEC_VALID, "False", "Invalid", "spec.y: essential")
            with anyio.fail_after(1):  # the fake clock stands still: no waiting on it
                assert await actor.flush(essential=True)
            assert not actor.writing_status
            freed.set()
        await anyio.wait_all_tasks_blocked()
    written = [spec_valid_message(s) for s in store(h).writes[before:]]
    assert written == ["spec.y: essential"]
