"""tell / ask / back-pressure / errors / statistics of the actor runtime, on both backends."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from continuum.actors.runtime import (
    Actor,
    ActorCrashed,
    ActorDead,
    ActorRef,
    AskTimeout,
    MailboxFull,
    ReplyError,
    run_actor,
)
from continuum.clock import FakeClock

pytestmark = pytest.mark.anyio


class Note(msgspec.Struct, frozen=True):
    text: str


class Read(msgspec.Struct, frozen=True):
    pass


class Refuse(msgspec.Struct, frozen=True):
    reason: str


class Explode(msgspec.Struct, frozen=True):
    pass


class Block(msgspec.Struct, frozen=True):
    pass


class Recorder(Actor):
    """Appends notes; answers Read with the list; can refuse, explode, or block on a gate."""

    mailbox_size = 2

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.gate = anyio.Event()
        self.blocked = anyio.Event()  # set once a Block is being handled
        self.stopped_with: list[BaseException | None] = []

    async def on_message(self, message: msgspec.Struct) -> object:
        match message:
            case Note(text=text):
                self.notes.append(text)
            case Read():
                return list(self.notes)
            case Refuse(reason=reason):
                raise ReplyError(reason)
            case Explode():
                raise RuntimeError("boom")
            case Block():
                self.blocked.set()
                await self.gate.wait()
        return None

    async def on_stop(self, error: BaseException | None) -> None:
        self.stopped_with.append(error)


async def test_tells_and_asks_from_one_sender_are_handled_in_send_order(
    fake_clock: FakeClock,
) -> None:
    actor = Recorder()
    async with run_actor(actor, clock=fake_clock) as ref:
        await ref.tell(Note("a"))
        await ref.tell(Note("b"))
        assert await ref.ask(Read()) == ["a", "b"]
        await ref.tell(Note("c"))
        assert await ref.ask(Read()) == ["a", "b", "c"]


async def test_ask_times_out_on_the_injected_clock(fake_clock: FakeClock) -> None:
    actor = Recorder()
    async with run_actor(actor, clock=fake_clock) as ref:
        await ref.tell(Block())
        outcome: list[BaseException] = []

        async def asker() -> None:
            try:
                await ref.ask(Read(), timeout=3.0)
            except AskTimeout as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(asker)
            await fake_clock.wait_armed(fake_clock.monotonic() + 3.0)  # the ask's bound
            fake_clock.advance(2.9)
            await anyio.wait_all_tasks_blocked()
            assert outcome == []
            fake_clock.advance(0.1)
        assert len(outcome) == 1
        actor.gate.set()
        assert ref.alive  # a timed-out ask does not hurt the actor
        assert await ref.ask(Read()) == []


async def test_ask_to_a_stopped_actor_raises_actor_dead_at_once(fake_clock: FakeClock) -> None:
    async with run_actor(Recorder(), clock=fake_clock) as ref:
        pass
    assert not ref.alive
    with pytest.raises(ActorDead):
        await ref.ask(Read())
    with pytest.raises(ActorDead):
        await ref.tell(Note("late"))
    with pytest.raises(ActorDead):
        ref.tell_nowait(Note("late"))


async def test_asks_queued_when_the_actor_stops_fail_with_actor_dead(fake_clock: FakeClock) -> None:
    actor = Recorder()
    outcomes: list[str] = []
    async with run_actor(actor, clock=fake_clock) as ref:
        await ref.tell(Block())

        async def asker() -> None:
            try:
                await ref.ask(Read(), timeout=60)
                outcomes.append("answered")
            except ActorDead:
                outcomes.append("dead")

        async with anyio.create_task_group() as tg:
            tg.start_soon(asker)
            await anyio.wait_all_tasks_blocked()
            actor.ctx.stop()  # after the blocked message; the queued ask is never handled
            actor.gate.set()
    assert outcomes == ["dead"]
    assert actor.stopped_with == [None]


async def test_full_mailbox_makes_tell_wait_and_loses_nothing(fake_clock: FakeClock) -> None:
    actor = Recorder()  # mailbox_size = 2
    async with run_actor(actor, clock=fake_clock) as ref:
        await ref.tell(Block())
        await anyio.wait_all_tasks_blocked()  # Block is being handled, mailbox empty
        await ref.tell(Note("1"))
        await ref.tell(Note("2"))
        with pytest.raises(MailboxFull):
            ref.tell_nowait(Note("never"))
        sent: list[str] = []

        async def producer() -> None:
            for i in range(3, 8):
                await ref.tell(Note(str(i)))
                sent.append(str(i))

        async with anyio.create_task_group() as tg:
            tg.start_soon(producer)
            await anyio.wait_all_tasks_blocked()
            assert sent == []  # blocked: back-pressure, not loss
            stats = ref.statistics()
            assert (stats.mailbox_depth, stats.senders_waiting) == (2, 1)
            actor.gate.set()
        assert await ref.ask(Read()) == [str(i) for i in range(1, 8)]


async def test_reply_error_reaches_the_asker_and_the_actor_keeps_running(
    fake_clock: FakeClock,
) -> None:
    actor = Recorder()
    async with run_actor(actor, clock=fake_clock) as ref:
        with pytest.raises(ReplyError, match="not now"):
            await ref.ask(Refuse("not now"))
        assert ref.alive
        await ref.tell(Note("still here"))
        assert await ref.ask(Read()) == ["still here"]
        assert ref.statistics().last_error == "ReplyError: not now"
    assert actor.stopped_with == [None]


async def test_crash_fails_the_ask_with_actor_crashed_and_runs_on_stop_with_the_error(
    fake_clock: FakeClock,
) -> None:
    actor = Recorder()
    async with run_actor(actor, clock=fake_clock) as ref:
        with pytest.raises(ActorCrashed) as caught:
            await ref.ask(Explode())
        assert isinstance(caught.value.__cause__, RuntimeError)
        await ref.wait_stopped()
        assert not ref.alive
        with pytest.raises(ActorDead):
            await ref.ask(Read())
    [error] = actor.stopped_with
    assert isinstance(error, RuntimeError)
    assert ref.statistics().last_error == "RuntimeError: boom"


async def test_crash_while_a_sender_waits_for_room_fails_that_sender(
    fake_clock: FakeClock,
) -> None:
    actor = Recorder()
    outcome: list[str] = []
    async with run_actor(actor, clock=fake_clock) as ref:
        await ref.tell(Block())
        await anyio.wait_all_tasks_blocked()
        await ref.tell(Explode())
        await ref.tell(Note("queued"))

        async def asker() -> None:
            try:
                await ref.ask(Read(), timeout=60)
            except ActorDead:
                outcome.append("dead")

        async with anyio.create_task_group() as tg:
            tg.start_soon(asker)
            await anyio.wait_all_tasks_blocked()
            assert ref.statistics().senders_waiting == 1
            actor.gate.set()
    assert outcome == ["dead"]
    assert actor.notes == []


async def test_statistics_count_processed_messages_and_report_liveness(
    fake_clock: FakeClock,
) -> None:
    async with run_actor(Recorder(), clock=fake_clock, name="ns/cr") as ref:
        for i in range(3):
            await ref.tell(Note(str(i)))
        await ref.ask(Read())
        stats = ref.statistics()
        assert stats.name == "ns/cr"
        assert stats.processed == 4
        assert stats.mailbox_depth == 0
        assert stats.mailbox_size == 2
        assert stats.alive is True
        assert stats.restarts == 0
        assert stats.last_error is None
    assert ref.statistics().alive is False


async def test_messages_sent_before_on_start_finishes_wait_for_it(fake_clock: FakeClock) -> None:
    class SlowStart(Recorder):
        async def on_start(self) -> None:
            await self.ctx.clock.sleep(10)
            self.notes.append("started")

    actor = SlowStart()
    async with run_actor(actor, clock=fake_clock) as ref:
        await ref.tell(Note("early"))
        await fake_clock.wait_armed(fake_clock.monotonic() + 10)  # on_start sleeps
        await fake_clock.advance_settled(10)
        assert await ref.ask(Read()) == ["started", "early"]


async def test_default_on_message_refuses_with_reply_error(fake_clock: FakeClock) -> None:
    async with run_actor(Actor(), clock=fake_clock) as ref:
        with pytest.raises(ReplyError, match="does not handle Note"):
            await ref.ask(Note("x"))
        assert ref.alive


async def test_many_concurrent_askers_each_get_their_own_answer(fake_clock: FakeClock) -> None:
    class Echo(Actor):
        async def on_message(self, message: msgspec.Struct) -> object:
            assert isinstance(message, Note)
            return message.text

    answers: dict[int, str] = {}

    async def asker(ref: ActorRef, i: int) -> None:
        answers[i] = await ref.ask(Note(str(i)))

    async with run_actor(Echo(), clock=fake_clock) as ref, anyio.create_task_group() as tg:
        for i in range(250):  # more than the mailbox holds: some askers wait for room
            tg.start_soon(asker, ref, i)
    assert answers == {i: str(i) for i in range(250)}


async def test_ask_waiting_for_room_times_out_on_the_clock(fake_clock: FakeClock) -> None:
    actor = Recorder()
    async with run_actor(actor, clock=fake_clock) as ref:
        await ref.tell(Block())
        await anyio.wait_all_tasks_blocked()
        await ref.tell(Note("1"))
        await ref.tell(Note("2"))
        outcome: list[BaseException] = []

        async def asker() -> None:
            try:
                await ref.ask(Read(), timeout=1.0)
            except AskTimeout as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(asker)
            await fake_clock.wait_armed(fake_clock.monotonic() + 1.0)  # the ask's bound
            await fake_clock.advance_settled(1.0)
        assert len(outcome) == 1
        assert ref.statistics().senders_waiting == 0  # the withdrawn ask left no trace
        actor.gate.set()
        assert await ref.ask(Read()) == ["1", "2"]


async def test_on_start_failure_is_a_crash_and_on_stop_gets_the_error(
    fake_clock: FakeClock,
) -> None:
    class BadStart(Recorder):
        async def on_start(self) -> None:
            raise LookupError("no lease state")

    actor = BadStart()
    async with run_actor(actor, clock=fake_clock) as ref:
        await ref.wait_stopped()
        with pytest.raises(ActorDead):
            await ref.tell(Note("x"))
    [error] = actor.stopped_with
    assert isinstance(error, LookupError)
    assert ref.statistics().last_error == "LookupError: no lease state"


async def test_actor_stuck_in_a_message_is_killed_after_the_shutdown_bound(
    fake_clock: FakeClock,
) -> None:
    actor = Recorder()
    outcome: list[str] = []

    async def asker(ref: ActorRef) -> None:
        try:
            await ref.ask(Block(), timeout=3600)
        except ActorDead:
            outcome.append("dead")

    async with anyio.create_task_group() as tg:

        async def scenario() -> None:
            async with run_actor(actor, clock=fake_clock, shutdown_timeout=5) as ref:
                tg.start_soon(asker, ref)
                await actor.blocked.wait()
            # leaving the block started the shutdown; the actor was stuck in Block

        tg.start_soon(scenario)
        # Advance only once the shutdown's bound is on the clock (not after
        # wait_all_tasks_blocked: on asyncio, two tasks waiting in it at once can each take
        # the other for blocked, and an advance before the bound is armed never reaches it).
        await fake_clock.wait_armed(fake_clock.monotonic() + 5)
        await fake_clock.advance_settled(4.9)
        assert outcome == []
        await fake_clock.advance_settled(0.1)
    assert outcome == ["dead"]
    assert actor.stopped_with == []  # killed mid-message: on_stop was skipped
