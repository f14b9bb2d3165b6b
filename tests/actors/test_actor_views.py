"""``ActorRef.view``: the actor's state read without entering its mailbox — never behind a
message that awaits, never half-way through one; on both backends."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from continuum.actors.runtime import Actor, ActorDead, AskTimeout, run_actor
from continuum.clock import FakeClock

pytestmark = pytest.mark.anyio


class Set(msgspec.Struct, frozen=True):
    value: int


class SetSlowly(msgspec.Struct, frozen=True):
    """Set ``value``, then wait on the gate (as a status write awaiting a hung server)."""

    value: int


class Counter(Actor):
    serves_views = True

    def __init__(self) -> None:
        self.value = 0
        self.gate = anyio.Event()
        self.views = 0

    def view(self) -> tuple[int, int]:
        self.views += 1
        return (self.value, self.views)

    async def on_message(self, message: msgspec.Struct) -> object:
        match message:
            case Set(value=value):
                self.value = value
            case SetSlowly(value=value):
                self.value = value  # half-way: readers must not see it before the end
                await self.gate.wait()
        return None


class Lazy(Counter):
    serves_views = False


async def test_a_view_between_messages_is_the_current_state(fake_clock: FakeClock) -> None:
    async with run_actor(Counter(), clock=fake_clock) as ref:
        await ref.tell(Set(3))
        await anyio.wait_all_tasks_blocked()
        assert (await ref.view())[0] == 3


async def test_a_view_during_a_message_that_awaits_is_the_state_before_it_and_waits_not(
    fake_clock: FakeClock,
) -> None:
    actor = Counter()
    async with run_actor(actor, clock=fake_clock) as ref:
        await ref.tell(Set(1))
        await ref.tell(SetSlowly(2))
        await anyio.wait_all_tasks_blocked()
        assert actor.value == 2  # the slow message is under way
        with anyio.fail_after(1):  # real time: it must not wait on the fake clock at all
            seen = await ref.view(timeout=60.0)
        assert seen[0] == 1
        actor.gate.set()
        await anyio.wait_all_tasks_blocked()
        assert (await ref.view())[0] == 2


async def test_an_actor_without_served_views_makes_its_first_reader_wait_for_the_message(
    fake_clock: FakeClock,
) -> None:
    actor = Lazy()
    async with run_actor(actor, clock=fake_clock) as ref:
        await ref.tell(SetSlowly(5))
        await anyio.wait_all_tasks_blocked()
        seen: list[tuple[int, int]] = []

        async def reader() -> None:
            seen.append(await ref.view(timeout=10.0))

        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            assert seen == []  # waiting for the message to end, not reading half-way
            actor.gate.set()
        assert seen[0][0] == 5
        # From now on a view is taken when each message begins: no wait any more.
        actor.gate = anyio.Event()
        await ref.tell(SetSlowly(6))
        await anyio.wait_all_tasks_blocked()
        with anyio.fail_after(1):
            assert (await ref.view(timeout=10.0))[0] == 5
        actor.gate.set()


async def test_a_first_reader_waits_at_most_its_timeout(fake_clock: FakeClock) -> None:
    actor = Lazy()
    async with run_actor(actor, clock=fake_clock) as ref:
        await ref.tell(SetSlowly(5))
        await anyio.wait_all_tasks_blocked()
        outcome: list[BaseException] = []

        async def reader() -> None:
            try:
                await ref.view(timeout=3.0)
            except AskTimeout as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            fake_clock.advance(2.9)
            await anyio.wait_all_tasks_blocked()
            assert outcome == []
            fake_clock.advance(0.1)
        assert len(outcome) == 1
        actor.gate.set()


async def test_a_reader_waiting_for_a_view_learns_the_actor_died(fake_clock: FakeClock) -> None:
    actor = Lazy()
    outcome: list[BaseException] = []
    async with run_actor(actor, clock=fake_clock) as ref:
        await ref.tell(SetSlowly(5))
        await anyio.wait_all_tasks_blocked()

        async def reader() -> None:
            try:
                await ref.view(timeout=30.0)
            except ActorDead as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            ref._cell.kill()  # what a supervisor does past its shutdown bound
    assert len(outcome) == 1
    with pytest.raises(ActorDead):
        await ref.view()


async def test_views_are_taken_only_between_messages(fake_clock: FakeClock) -> None:
    actor = Counter()
    async with run_actor(actor, clock=fake_clock) as ref:
        for value in range(5):
            await ref.tell(Set(value))
        await anyio.wait_all_tasks_blocked()
        assert actor.views == 5  # one at the start of each message, none inside
