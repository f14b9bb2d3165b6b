"""Deferred replies: an ask answered later, by a child task's message, while the mailbox goes
on (``ActorContext.defer_reply``), on fake time and both backends."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from continuum.actors.runtime import Actor, ActorDead, ActorRef, Reply, ReplyError, run_actor
from continuum.clock import FakeClock

pytestmark = pytest.mark.anyio


class Slow(msgspec.Struct, frozen=True):
    """Answered once ``release`` is set, by a child task."""

    fail: bool = False


class Ping(msgspec.Struct, frozen=True):
    pass


class Refuse(msgspec.Struct, frozen=True):
    pass


class Made(msgspec.Struct, frozen=True):
    reply: Reply
    value: int


class Broke(msgspec.Struct, frozen=True):
    reply: Reply
    error: BaseException


class NoGood(ReplyError):
    pass


class Deferring(Actor):
    def __init__(self) -> None:
        self.release = anyio.Event()
        self.pings = 0

    async def on_message(self, message: msgspec.Struct) -> object:
        match message:
            case Slow(fail=fail):
                reply = self.ctx.defer_reply()

                async def work() -> int:
                    await self.release.wait()
                    if fail:
                        raise NoGood("the reads failed")
                    return 7

                self.ctx.start_child(
                    work,
                    on_result=lambda value: Made(reply, value),
                    on_error=lambda exc: Broke(reply, exc),
                )
                return "ignored: the reply is deferred"
            case Made(reply=reply, value=value):
                reply.resolve(value * 6)
            case Broke(reply=reply, error=error):
                reply.fail(error)
            case Refuse():
                self.ctx.defer_reply()
                raise NoGood("refused after deferring")
            case Ping():
                self.pings += 1
                return self.pings
        return None


async def answer_into(ref: ActorRef, message: msgspec.Struct, out: list[object]) -> None:
    """Ask ``ref``; append the answer, or the ``ActorDead`` it raised, to ``out``."""
    try:
        out.append(await ref.ask(message, timeout=30))
    except ActorDead as exc:
        out.append(exc)


async def test_deferred_asks_are_answered_by_their_children_while_other_asks_are_served(
    fake_clock: FakeClock,
) -> None:
    actor = Deferring()
    answers: list[object] = []
    async with run_actor(actor, clock=fake_clock) as ref, anyio.create_task_group() as tg:
        tg.start_soon(answer_into, ref, Slow(), answers)
        tg.start_soon(answer_into, ref, Slow(), answers)  # a second one while the first waits
        await anyio.wait_all_tasks_blocked()
        # The mailbox is free while the slow asks wait for their children.
        assert await ref.ask(Ping()) == 1
        assert await ref.ask(Ping()) == 2
        assert answers == []
        actor.release.set()
    assert answers == [42, 42]


async def test_a_deferred_ask_gets_the_childs_error(fake_clock: FakeClock) -> None:
    actor = Deferring()
    actor.release.set()
    async with run_actor(actor, clock=fake_clock) as ref:
        with pytest.raises(NoGood, match="the reads failed"):
            await ref.ask(Slow(fail=True), timeout=30)
        assert await ref.ask(Ping()) == 1  # the actor keeps running


async def test_a_reply_error_raised_after_deferring_still_answers_the_ask(
    fake_clock: FakeClock,
) -> None:
    async with run_actor(Deferring(), clock=fake_clock) as ref:
        with pytest.raises(NoGood, match="refused after deferring"):
            await ref.ask(Refuse(), timeout=30)


async def test_an_actor_stopping_with_a_deferred_ask_answers_it_actor_dead(
    fake_clock: FakeClock,
) -> None:
    actor = Deferring()
    failures: list[object] = []
    async with run_actor(actor, clock=fake_clock) as ref, anyio.create_task_group() as tg:
        tg.start_soon(answer_into, ref, Slow(), failures)
        await anyio.wait_all_tasks_blocked()
        actor.ctx.stop()
    assert len(failures) == 1
    assert isinstance(failures[0], ActorDead)


async def test_defer_reply_outside_an_ask_raises(fake_clock: FakeClock) -> None:
    actor = Deferring()
    async with run_actor(actor, clock=fake_clock):
        with pytest.raises(RuntimeError, match="only valid while an ask"):
            actor.ctx.defer_reply()
