"""Spawn/stop by key, the registry, and shutdown order and bounds, on both backends."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from continuum.actors.runtime import Actor, ActorDead
from continuum.clock import FakeClock
from continuum.supervisor import Supervisor

pytestmark = pytest.mark.anyio


class Hello(msgspec.Struct, frozen=True):
    pass


class Member(Actor):
    """Journals its start and (completed) stop; on_stop can be made to wait on a gate."""

    def __init__(self, name: str, journal: list[str], *, gate: anyio.Event | None = None) -> None:
        self.name = name
        self.journal = journal
        self.gate = gate
        self.stopping = anyio.Event()

    async def on_start(self) -> None:
        self.journal.append(f"start {self.name}")

    async def on_message(self, message: msgspec.Struct) -> object:
        return self.name

    async def on_stop(self, error: BaseException | None) -> None:
        self.stopping.set()
        if self.gate is not None:
            await self.gate.wait()
        self.journal.append(f"stop {self.name}")


async def test_spawn_is_idempotent_for_a_live_key(fake_clock: FakeClock) -> None:
    built: list[str] = []

    def factory() -> Member:
        built.append("x")
        return Member("a", [])

    async with Supervisor(clock=fake_clock) as sup:
        first = await sup.spawn("ns/a", factory)
        again = await sup.spawn("ns/a", factory)
        assert again is first
        assert built == ["x"]
        assert sup.registry.get("ns/a") is first
        assert len(sup.registry) == 1


async def test_stop_runs_on_stop_and_forgets_the_key(fake_clock: FakeClock) -> None:
    journal: list[str] = []
    async with Supervisor(clock=fake_clock) as sup:
        ref = await sup.spawn("ns/a", lambda: Member("a", journal))
        assert await ref.ask(Hello()) == "a"
        await sup.stop("ns/a")
        assert journal == ["start a", "stop a"]
        assert sup.registry.get("ns/a") is None
        with pytest.raises(ActorDead):
            await ref.ask(Hello())
        await sup.stop("ns/a")  # unknown key now: a no-op
        await sup.stop("ns/never")
        again = await sup.spawn("ns/a", lambda: Member("a2", journal))
        assert await again.ask(Hello()) == "a2"


async def test_registry_lists_keys_in_spawn_order_with_statistics(fake_clock: FakeClock) -> None:
    async with Supervisor(clock=fake_clock) as sup:
        for key in ("ns/c", "ns/a", "ns/b"):
            await sup.spawn(key, lambda key=key: Member(key, []))
        ref = sup.registry.get("ns/a")
        assert ref is not None
        await ref.ask(Hello())
        assert sup.registry.keys() == ["ns/c", "ns/a", "ns/b"]
        snapshot = sup.registry.snapshot()
        assert list(snapshot) == ["ns/c", "ns/a", "ns/b"]
        assert snapshot["ns/a"].processed == 1
        assert snapshot["ns/a"].name == "ns/a"
        assert all(stats.alive for stats in snapshot.values())
    assert len(sup.registry) == 0


async def test_shutdown_stops_every_actor(fake_clock: FakeClock) -> None:
    journal: list[str] = []
    async with Supervisor(clock=fake_clock) as sup:
        for name in ("a", "b", "c"):
            await sup.spawn(f"ns/{name}", lambda name=name: Member(name, journal))
        await anyio.wait_all_tasks_blocked()
    assert sorted(journal[:3]) == ["start a", "start b", "start c"]  # concurrent on_start
    assert sorted(journal[3:]) == ["stop a", "stop b", "stop c"]


async def test_shutdown_takes_one_bound_whatever_the_number_of_slow_actors(
    fake_clock: FakeClock,
) -> None:
    """Every actor is asked to stop at once: 200 actors each stuck in ``on_stop`` are all
    killed when one ``shutdown_timeout`` has passed, not one after the other (200 × 10 s)."""
    journal: list[str] = []
    never = anyio.Event()
    members = [Member(f"m{i}", journal, gate=never) for i in range(200)]
    ended: list[float] = []

    async def run() -> None:
        async with Supervisor(clock=fake_clock, shutdown_timeout=10) as sup:
            for i, member in enumerate(members):
                await sup.spawn(f"ns/m{i}", lambda member=member: member)
            await anyio.wait_all_tasks_blocked()
        ended.append(fake_clock.monotonic())

    started = fake_clock.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        for member in members:
            await member.stopping.wait()  # every one was asked at once
        await fake_clock.advance_settled(9.9)
        assert ended == []
        await fake_clock.advance_settled(0.1)
    assert ended == [started + 10]
    assert sorted(journal) == sorted(f"start m{i}" for i in range(200))  # every on_stop cut


async def test_shutdown_kills_an_actor_that_overruns_shutdown_timeout_and_goes_on(
    fake_clock: FakeClock,
) -> None:
    journal: list[str] = []
    never = anyio.Event()
    stuck = Member("stuck", journal, gate=never)

    async def run() -> None:
        async with Supervisor(clock=fake_clock, shutdown_timeout=10) as sup:
            await sup.spawn("ns/a", lambda: Member("a", journal))
            await sup.spawn("ns/stuck", lambda: stuck)
            await sup.spawn("ns/c", lambda: Member("c", journal))
            await anyio.wait_all_tasks_blocked()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await stuck.stopping.wait()
        await anyio.wait_all_tasks_blocked()
        assert sorted(journal[3:]) == ["stop a", "stop c"]  # the others did not wait for it
        await fake_clock.advance_settled(9.9)
        assert len(journal) == 5  # still waiting within the bound
        await fake_clock.advance_settled(0.1)
    assert sorted(journal[3:]) == ["stop a", "stop c"]  # "stuck" was cut short


async def test_shutdown_survives_a_second_cancellation_and_runs_every_on_stop(
    fake_clock: FakeClock,
) -> None:
    journal: list[str] = []
    gate = anyio.Event()
    members = {name: Member(name, journal, gate=gate if name == "c" else None) for name in "abc"}

    async def cancel_again_then_release(scope: anyio.CancelScope) -> None:
        await members["c"].stopping.wait()  # shutdown is under way, inside c's on_stop
        scope.cancel()
        await anyio.wait_all_tasks_blocked()
        gate.set()

    async with anyio.create_task_group() as tg:
        with anyio.CancelScope() as outer:
            tg.start_soon(cancel_again_then_release, outer)
            with anyio.CancelScope() as inner:
                async with Supervisor(clock=fake_clock) as sup:
                    for name in "abc":
                        await sup.spawn(f"ns/{name}", lambda name=name: members[name])
                    await anyio.wait_all_tasks_blocked()
                    inner.cancel()  # first cancellation: the block unwinds, shutdown starts
                    await anyio.sleep_forever()
    assert sorted(journal[:3]) == ["start a", "start b", "start c"]  # concurrent on_start
    # Every on_stop ran to its end; c's, held by its gate past the second cancellation, last.
    assert sorted(journal[3:5]) == ["stop a", "stop b"]
    assert journal[5:] == ["stop c"]


async def test_escalation_cancels_only_the_block_not_the_other_actors_mid_message(
    fake_clock: FakeClock,
) -> None:
    from continuum.supervisor import SupervisorEscalation

    class Boom(msgspec.Struct, frozen=True):
        pass

    class Fragile(Member):
        async def on_message(self, message: msgspec.Struct) -> object:
            if isinstance(message, Boom):
                raise RuntimeError("boom")
            return await super().on_message(message)

    journal: list[str] = []

    async def scenario() -> None:
        async with Supervisor(clock=fake_clock, intensity=0) as sup:
            await sup.spawn("ns/steady", lambda: Member("steady", journal))
            fragile = await sup.spawn("ns/fragile", lambda: Fragile("fragile", journal))
            await fragile.tell(Boom())
            await anyio.sleep_forever()

    with pytest.raises(SupervisorEscalation):
        await scenario()
    assert sorted(journal[:2]) == ["start fragile", "start steady"]
    assert journal[2:] == ["stop fragile", "stop steady"]


class Undoing(Actor):
    """Starts a child that, once inside a shielded section (as a switchover compensation
    is), writes ``undone`` only after ``gate`` opens."""

    def __init__(self, journal: list[str], gate: anyio.Event) -> None:
        self.journal = journal
        self.gate = gate
        self.inside = anyio.Event()

    async def on_start(self) -> None:
        self.ctx.start_child(self._undo, on_result=lambda _: Hello(), on_error=lambda _: Hello())

    async def _undo(self) -> None:
        with anyio.CancelScope(shield=True):
            self.inside.set()
            await self.gate.wait()
            self.journal.append("undone")

    async def on_message(self, message: msgspec.Struct) -> object:
        return None


async def test_stop_returns_only_after_a_shielded_child_section_ended(
    fake_clock: FakeClock,
) -> None:
    """A stopped actor's child still in a shielded section (a compensation) ends before
    ``stop`` returns: whoever starts the CR's next actor after the stop (a shard hand-over)
    never runs beside a write of the previous one. Holds past the shutdown timeout too (the
    kill cancels, and a shield outlives a cancel)."""
    journal: list[str] = []
    gate = anyio.Event()
    actor = Undoing(journal, gate)
    async with Supervisor(clock=fake_clock, shutdown_timeout=5) as sup:
        await sup.spawn("ns/a", lambda: actor)
        await actor.inside.wait()
        async with anyio.create_task_group() as tg:

            async def stop() -> None:
                await sup.stop("ns/a")
                journal.append("stopped")

            tg.start_soon(stop)
            await fake_clock.advance_settled(10)  # past the shutdown timeout: killed
            before_gate = list(journal)
            gate.set()
    assert before_gate == []
    assert journal == ["undone", "stopped"]
