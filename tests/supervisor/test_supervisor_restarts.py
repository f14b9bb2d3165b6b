"""one_for_one restarts, the restart budget and escalation, on fake time and both backends."""

from __future__ import annotations

from typing import Any

import anyio
import msgspec
import pytest

from continuum.actors.runtime import Actor, ActorCrashed, ActorDead
from continuum.clock import FakeClock
from continuum.supervisor import Supervisor, SupervisorClosed, SupervisorEscalation

pytestmark = pytest.mark.anyio


class Crash(msgspec.Struct, frozen=True):
    pass


class WhoAreYou(msgspec.Struct, frozen=True):
    pass


class Worker(Actor):
    """Answers WhoAreYou with its instance number; crashes on Crash."""

    def __init__(self, journal: list[str], number: int) -> None:
        self.journal = journal
        self.number = number

    async def on_start(self) -> None:
        self.journal.append(f"start {self.number} at {self.ctx.clock.monotonic() - 1_000:g}")

    async def on_message(self, message: msgspec.Struct) -> object:
        if isinstance(message, Crash):
            raise RuntimeError(f"crash of {self.number}")
        return self.number

    async def on_stop(self, error: BaseException | None) -> None:
        self.journal.append(f"stop {self.number}: {error!r}")


def counting_factory(journal: list[str]) -> tuple[list[Worker], object]:
    made: list[Worker] = []

    def factory() -> Worker:
        worker = Worker(journal, len(made) + 1)
        made.append(worker)
        return worker

    return made, factory


async def crash(sup: Supervisor, key: str) -> None:
    ref = sup.registry.get(key)
    assert ref is not None
    with pytest.raises(ActorCrashed):
        await ref.ask(Crash())


async def test_crashed_actor_is_restarted_alone_with_a_new_instance_after_backoff(
    fake_clock: FakeClock,
) -> None:
    journal: list[str] = []
    made: list[Worker] = []

    def factory() -> Worker:
        made.append(Worker(journal, len(made) + 1))
        return made[-1]

    async with Supervisor(clock=fake_clock, backoff_initial=0.5) as sup:
        first = await sup.spawn("ns/a", factory)
        other = await sup.spawn("ns/b", lambda: Worker([], 99))
        await crash(sup, "ns/a")
        await anyio.wait_all_tasks_blocked()
        assert sup.registry.get("ns/a") is first  # the dead incarnation, until the restart
        assert not first.alive
        await fake_clock.advance_settled(0.5)
        second = sup.registry.get("ns/a")
        assert second is not None
        assert second is not first
        assert await second.ask(WhoAreYou()) == 2
        with pytest.raises(ActorDead):
            await first.ask(WhoAreYou())
        assert other.alive  # one_for_one: the sibling was untouched
        assert await other.ask(WhoAreYou()) == 99
        assert second.statistics().restarts == 1
        assert second.statistics().last_error == "RuntimeError: crash of 1"
    assert journal[:3] == [
        "start 1 at 0",
        "stop 1: RuntimeError('crash of 1')",
        "start 2 at 0.5",
    ]


async def test_backoff_doubles_per_recent_crash_up_to_the_cap(fake_clock: FakeClock) -> None:
    journal: list[str] = []
    made: list[Worker] = []

    def factory() -> Worker:
        made.append(Worker(journal, len(made) + 1))
        return made[-1]

    async with Supervisor(
        clock=fake_clock, intensity=10, backoff_initial=1.0, backoff_max=3.0
    ) as sup:
        await sup.spawn("ns/a", factory)
        for _ in range(4):
            await crash(sup, "ns/a")
            await fake_clock.advance_settled(10)
    starts = [line for line in journal if line.startswith("start")]
    # crashes at 0, 10, 20, 30 (+ backoff 1, 2, 3 (capped), 3)
    assert starts == [
        "start 1 at 0",
        "start 2 at 1",
        "start 3 at 12",
        "start 4 at 23",
        "start 5 at 33",
    ]


async def test_more_restarts_than_intensity_within_period_escalates(
    fake_clock: FakeClock, runtime_logs: list[dict[str, Any]]
) -> None:
    journal: list[str] = []
    bystander: list[str] = []
    made: list[Worker] = []

    def factory() -> Worker:
        made.append(Worker(journal, len(made) + 1))
        return made[-1]

    async def scenario() -> None:
        async with Supervisor(
            clock=fake_clock, intensity=2, period=30.0, backoff_initial=1.0
        ) as sup:
            await sup.spawn("ns/bystander", lambda: Worker(bystander, 0))
            await sup.spawn("ns/a", factory)
            await crash(sup, "ns/a")
            await fake_clock.advance_settled(1)
            await crash(sup, "ns/a")
            await fake_clock.advance_settled(2)
            await crash(sup, "ns/a")  # third crash within 30 s: budget of 2 exceeded
            await anyio.sleep_forever()  # the escalation cancels the block

    with pytest.raises(SupervisorEscalation) as caught:
        await scenario()
    assert caught.value.key == "ns/a"
    assert caught.value.crashes == 3
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert len(made) == 3  # no fourth instance
    assert bystander == ["start 0 at 0", "stop 0: None"]  # everything else stopped cleanly
    events = [(e["event"], e.get("actor")) for e in runtime_logs if e["log_level"] != "debug"]
    assert events == [
        ("actor_crashed", "ns/a"),
        ("actor_restarting", "ns/a"),
        ("actor_crashed", "ns/a"),
        ("actor_restarting", "ns/a"),
        ("actor_crashed", "ns/a"),
        ("supervisor_escalating", "ns/a"),
    ]


async def test_crashes_spread_wider_than_period_never_escalate(fake_clock: FakeClock) -> None:
    journal: list[str] = []
    made: list[Worker] = []

    def factory() -> Worker:
        made.append(Worker(journal, len(made) + 1))
        return made[-1]

    async with Supervisor(clock=fake_clock, intensity=1, period=10.0, backoff_initial=1) as sup:
        await sup.spawn("ns/a", factory)
        for _ in range(5):
            await crash(sup, "ns/a")
            await fake_clock.advance_settled(11)
        ref = sup.registry.get("ns/a")
        assert ref is not None
        assert await ref.ask(WhoAreYou()) == 6
        assert ref.statistics().restarts == 5


async def test_failing_factory_on_restart_counts_against_the_budget(
    fake_clock: FakeClock,
) -> None:
    calls: list[int] = []

    def factory() -> Worker:
        calls.append(1)
        if len(calls) > 1:
            raise OSError("cannot build")
        return Worker([], 1)

    async def scenario() -> None:
        async with Supervisor(clock=fake_clock, intensity=3, backoff_initial=1) as sup:
            await sup.spawn("ns/a", factory)
            await crash(sup, "ns/a")
            await fake_clock.advance_settled(20)
            await anyio.sleep_forever()

    with pytest.raises(SupervisorEscalation) as caught:
        await scenario()
    assert isinstance(caught.value.__cause__, OSError)
    assert len(calls) == 4  # the original + 3 failed rebuilds, then escalation


async def test_actor_stopping_itself_is_not_restarted_and_leaves_the_registry(
    fake_clock: FakeClock,
) -> None:
    class Quitter(Worker):
        async def on_message(self, message: msgspec.Struct) -> object:
            self.ctx.stop()
            return "bye"

    journal: list[str] = []
    async with Supervisor(clock=fake_clock) as sup:
        ref = await sup.spawn("ns/q", lambda: Quitter(journal, 1))
        assert await ref.ask(WhoAreYou()) == "bye"
        await ref.wait_stopped()
        await fake_clock.advance_settled(60)
        assert "ns/q" not in sup.registry
    assert journal == ["start 1 at 0", "stop 1: None"]


async def test_spawn_during_restart_backoff_returns_the_next_incarnation(
    fake_clock: FakeClock,
) -> None:
    made: list[Worker] = []

    def factory() -> Worker:
        made.append(Worker([], len(made) + 1))
        return made[-1]

    async with (
        Supervisor(clock=fake_clock, backoff_initial=2) as sup,
        anyio.create_task_group() as tg,
    ):
        await sup.spawn("ns/a", factory)
        await crash(sup, "ns/a")
        got: list[int] = []

        async def respawn() -> None:
            ref = await sup.spawn("ns/a", lambda: Worker([], 1000))
            got.append(await ref.ask(WhoAreYou()))

        tg.start_soon(respawn)
        await anyio.wait_all_tasks_blocked()
        assert got == []
        await fake_clock.advance_settled(2)
    assert got == [2]  # the supervisor's restart, not a second actor from the new factory


async def test_spawn_after_escalation_is_refused(fake_clock: FakeClock) -> None:
    refused: list[BaseException] = []

    async def scenario() -> None:
        async with Supervisor(clock=fake_clock, intensity=0) as sup:
            await sup.spawn("ns/a", lambda: Worker([], 1))
            with anyio.CancelScope(shield=True):  # the escalation cancels the block itself
                await crash(sup, "ns/a")
                await anyio.wait_all_tasks_blocked()
                try:
                    await sup.spawn("ns/b", lambda: Worker([], 2))
                except SupervisorClosed as exc:
                    refused.append(exc)

    with pytest.raises(SupervisorEscalation):
        await scenario()
    assert len(refused) == 1
