"""Child tasks and timers of the actor runtime, on fake time and both backends."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from continuum.actors.runtime import Actor, ActorDead, ChildTask, run_actor
from continuum.clock import FakeClock

pytestmark = pytest.mark.anyio


class Tick(msgspec.Struct, frozen=True):
    label: str


class Fetched(msgspec.Struct, frozen=True):
    value: int


class FetchFailed(msgspec.Struct, frozen=True):
    error: str


class Log(msgspec.Struct, frozen=True):
    pass


class Ping(msgspec.Struct, frozen=True):
    pass


class Tracker(Actor):
    """Records every message it gets with the fake time it got it at."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, msgspec.Struct]] = []

    async def on_message(self, message: msgspec.Struct) -> object:
        if isinstance(message, Log):
            return list(self.seen)
        if not isinstance(message, Ping):
            self.seen.append((self.ctx.clock.monotonic() - 1_000, message))
        return None


async def test_child_result_comes_back_as_a_message_while_the_actor_keeps_answering(
    fake_clock: FakeClock,
) -> None:
    actor = Tracker()
    release = anyio.Event()

    async def work() -> int:
        await release.wait()
        return 42

    async with run_actor(actor, clock=fake_clock) as ref:
        child = actor.ctx.start_child(
            work, on_result=Fetched, on_error=lambda exc: FetchFailed(str(exc))
        )
        await ref.ask(Ping())  # the actor answers while the child runs
        assert not child.done
        release.set()
        await anyio.wait_all_tasks_blocked()
        assert child.done
        assert await ref.ask(Log()) == [(0.0, Fetched(42))]


async def test_child_error_comes_back_through_on_error(fake_clock: FakeClock) -> None:
    actor = Tracker()

    async def work() -> int:
        raise ValueError("witness unreachable")

    async with run_actor(actor, clock=fake_clock) as ref:
        actor.ctx.start_child(work, on_result=Fetched, on_error=lambda e: FetchFailed(str(e)))
        await anyio.wait_all_tasks_blocked()
        assert await ref.ask(Log()) == [(0.0, FetchFailed("witness unreachable"))]
        assert ref.alive


async def test_child_results_queue_behind_earlier_messages(fake_clock: FakeClock) -> None:
    actor = Tracker()

    async def work() -> int:
        await fake_clock.sleep(5)
        return 1

    async with run_actor(actor, clock=fake_clock) as ref:
        actor.ctx.start_child(work, on_result=Fetched, on_error=lambda e: FetchFailed(str(e)))
        await ref.tell(Tick("before"))
        await fake_clock.advance_settled(5)
        await ref.tell(Tick("after"))
        assert await ref.ask(Log()) == [
            (0.0, Tick("before")),
            (5.0, Fetched(1)),
            (5.0, Tick("after")),
        ]


async def test_cancelled_child_delivers_nothing(fake_clock: FakeClock) -> None:
    actor = Tracker()

    async def work() -> int:
        await fake_clock.sleep(5)
        return 1

    async with run_actor(actor, clock=fake_clock) as ref:
        child = actor.ctx.start_child(work, on_result=Fetched, on_error=lambda e: FetchFailed(""))
        await anyio.wait_all_tasks_blocked()
        child.cancel()
        await fake_clock.advance_settled(10)
        assert child.done
        assert await ref.ask(Log()) == []


async def test_child_cancelled_after_its_work_delivers_nothing(fake_clock: FakeClock) -> None:
    """Cancelled between the end of the work and the delivery (here: by ``on_result``), the
    child sends nothing, although it no longer passes a checkpoint on the way."""
    actor = Tracker()
    children: list[ChildTask] = []

    async def work() -> int:
        return 1

    def cancel_then_build(value: int) -> Fetched:
        children[0].cancel()
        return Fetched(value)

    async with run_actor(actor, clock=fake_clock) as ref:
        children.append(
            actor.ctx.start_child(work, on_result=cancel_then_build, on_error=lambda e: Log())
        )
        await anyio.wait_all_tasks_blocked()
        assert children[0].done
        assert await ref.ask(Log()) == []


class Blocking(Tracker):
    """A Tracker with a one-slot mailbox that holds ``Tick("block")`` until released."""

    mailbox_size = 1

    def __init__(self) -> None:
        super().__init__()
        self.release = anyio.Event()

    async def on_message(self, message: msgspec.Struct) -> object:
        if message == Tick("block"):
            await self.release.wait()
        return await super().on_message(message)


async def test_child_result_waits_for_room_in_a_full_mailbox(fake_clock: FakeClock) -> None:
    actor = Blocking()

    async def work() -> int:
        return 7

    async with run_actor(actor, clock=fake_clock) as ref:
        await ref.tell(Tick("block"))
        await anyio.wait_all_tasks_blocked()  # the actor is inside "block"
        await ref.tell(Tick("queued"))  # the mailbox's one slot
        child = actor.ctx.start_child(work, on_result=Fetched, on_error=lambda e: Log())
        await anyio.wait_all_tasks_blocked()
        assert not child.done  # waiting for room
        actor.release.set()
        await anyio.wait_all_tasks_blocked()
        assert child.done
        assert [m for _, m in await ref.ask(Log())] == [
            Tick("block"),
            Tick("queued"),
            Fetched(7),
        ]


async def test_children_are_cancelled_when_the_actor_stops(fake_clock: FakeClock) -> None:
    actor = Tracker()
    cancelled = anyio.Event()

    async def work() -> int:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()
        return 0  # pragma: no cover

    async with run_actor(actor, clock=fake_clock):
        child: ChildTask = actor.ctx.start_child(
            work, on_result=Fetched, on_error=lambda e: FetchFailed("")
        )
        await anyio.wait_all_tasks_blocked()
    assert cancelled.is_set()
    assert child.done


async def test_failing_on_error_callback_crashes_the_actor(fake_clock: FakeClock) -> None:
    stopped: list[BaseException | None] = []

    class Fragile(Tracker):
        async def on_stop(self, error: BaseException | None) -> None:
            stopped.append(error)

    actor = Fragile()

    async def work() -> int:
        raise ValueError("first")

    def bad_on_error(exc: BaseException) -> FetchFailed:
        raise KeyError("callback bug")

    async with run_actor(actor, clock=fake_clock) as ref:
        actor.ctx.start_child(work, on_result=Fetched, on_error=bad_on_error)
        await ref.wait_stopped()
        with pytest.raises(ActorDead):
            await ref.ask(Log())
    [error] = stopped
    assert isinstance(error, KeyError)


async def test_one_shot_timer_fires_once_after_its_delay(fake_clock: FakeClock) -> None:
    actor = Tracker()
    async with run_actor(actor, clock=fake_clock) as ref:
        actor.ctx.start_timer("t", 10, Tick("once"))
        await fake_clock.advance_settled(9.9)
        assert await ref.ask(Log()) == []
        await fake_clock.advance_settled(100)
        assert await ref.ask(Log()) == [(10.0, Tick("once"))]


async def test_repeating_timer_fires_every_delay(fake_clock: FakeClock) -> None:
    actor = Tracker()
    async with run_actor(actor, clock=fake_clock) as ref:
        actor.ctx.start_timer("renew", 10, Tick("renew"), repeat=True)
        await fake_clock.advance_settled(35)
        times = [t for t, _ in await ref.ask(Log())]
        assert times == [10.0, 20.0, 30.0]


async def test_timer_with_the_same_key_replaces_the_previous_one(fake_clock: FakeClock) -> None:
    actor = Tracker()
    async with run_actor(actor, clock=fake_clock) as ref:
        actor.ctx.start_timer("t", 10, Tick("old"))
        await fake_clock.advance_settled(5)
        actor.ctx.start_timer("t", 10, Tick("new"))
        await fake_clock.advance_settled(30)
        assert await ref.ask(Log()) == [(15.0, Tick("new"))]


async def test_cancelled_timer_never_fires(fake_clock: FakeClock) -> None:
    actor = Tracker()
    async with run_actor(actor, clock=fake_clock) as ref:
        actor.ctx.start_timer("a", 10, Tick("a"), repeat=True)
        actor.ctx.start_timer("b", 10, Tick("b"))
        await fake_clock.advance_settled(15)
        actor.ctx.cancel_timer("a")
        actor.ctx.cancel_timer("b")  # already fired: a no-op
        actor.ctx.cancel_timer("never-started")
        await fake_clock.advance_settled(60)
        assert sorted(m.label for _, m in await ref.ask(Log())) == ["a", "b"]
        assert fake_clock.pending == 0


async def test_timers_stop_with_the_actor(fake_clock: FakeClock) -> None:
    actor = Tracker()
    async with run_actor(actor, clock=fake_clock):
        actor.ctx.start_timer("renew", 10, Tick("renew"), repeat=True)
        await anyio.wait_all_tasks_blocked()
        assert fake_clock.pending == 1
    assert fake_clock.pending == 0


async def test_repeating_timer_skips_ticks_missed_while_the_mailbox_was_full(
    fake_clock: FakeClock,
) -> None:
    class Tiny(Tracker):
        mailbox_size = 1

        def __init__(self) -> None:
            super().__init__()
            self.gate = anyio.Event()

        async def on_message(self, message: msgspec.Struct) -> object:
            if isinstance(message, Tick) and message.label == "block":
                await self.gate.wait()
            return await super().on_message(message)

    actor = Tiny()
    async with run_actor(actor, clock=fake_clock) as ref:
        await ref.tell(Tick("block"))
        actor.ctx.start_timer("r", 10, Tick("r"), repeat=True)
        await fake_clock.advance_settled(45)  # fires at 10 (queued), 20 (waits for room)
        actor.gate.set()
        await anyio.wait_all_tasks_blocked()
        await fake_clock.advance_settled(10)
        times = [t for t, m in await ref.ask(Log()) if m == Tick("r")]
        # 10 and 20 delivered once room appeared at 45; 30 and 40 skipped; next at 55.
        assert times == [45.0, 45.0, 55.0]


def test_bad_timer_delays_are_refused() -> None:
    async def main() -> None:
        clock = FakeClock()
        actor = Tracker()
        async with run_actor(actor, clock=clock):
            with pytest.raises(ValueError, match="bad delay"):
                actor.ctx.start_timer("r", 0, Tick("r"), repeat=True)
            with pytest.raises(ValueError, match="bad delay"):
                actor.ctx.start_timer("r", -1, Tick("r"))

    anyio.run(main)
