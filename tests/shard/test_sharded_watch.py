"""The CR watch under a shard view: replicas (each a Membership, a Supervisor and a
ContinuumWatch with its own client) share the Continuum CRs of one emulated cluster, over
real HTTP with fake time; an actor of a CR never runs on two replicas at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import ClassVar

import anyio
import msgspec
import pytest
from kubernetes_asyncio import config

from continuum import write_gate
from continuum.actors.runtime import Actor
from continuum.adapters.continuums import ContinuumApi
from continuum.adapters.kube import KubeClients
from continuum.clock import FakeClock
from continuum.errors import Unavailable
from continuum.leader.membership import Membership
from continuum.messages.crd import FINALIZER, Continuum
from continuum.supervisor.supervisor import Supervisor
from continuum.supervisor.watch import ContinuumWatch
from continuum_sim.kube import KubeEmulator, bundled_crd_paths, write_kubeconfig
from tests.kube.conftest import autojumping
from tests.kube.test_kube_continuum_watch import _cr
from tests.shard.shard_harness import GROUP, NAMESPACE

pytestmark = pytest.mark.anyio

CRS = 30


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Handling:
    """Which replica runs which CR's actor, and every moment two did."""

    def __init__(self) -> None:
        self.by_key: dict[str, set[str]] = {}
        self.doubles: list[tuple[str, set[str]]] = []
        self.stops: list[tuple[str, str, bool]] = []  # (key, replica, handing over)

    def started(self, key: str, replica: str) -> None:
        holders = self.by_key.setdefault(key, set())
        if holders:
            self.doubles.append((key, set(holders) | {replica}))
        holders.add(replica)

    def stopped(self, key: str, replica: str, *, handing_over: bool) -> None:
        self.by_key.get(key, set()).discard(replica)
        self.stops.append((key, replica, handing_over))

    def running(self) -> dict[str, set[str]]:
        return {k: set(v) for k, v in self.by_key.items() if v}


class TracedActor(Actor):
    def __init__(self, cr: Continuum, replica: str, handling: Handling) -> None:
        self.key, self.replica, self.handling = cr.key, replica, handling
        handling.started(self.key, replica)

    async def on_message(self, message: msgspec.Struct) -> object:
        return None

    async def on_stop(self, error: BaseException | None) -> None:
        self.handling.stopped(self.key, self.replica, handing_over=self.ctx.handing_over)


class GateRecorder(TracedActor):
    """Records the write check its own task runs under (:mod:`continuum.write_gate`)."""

    checks: ClassVar[dict[str, write_gate.WriteCheck | None]] = {}

    async def on_start(self) -> None:
        GateRecorder.checks[self.key] = write_gate.current()


async def _until(check: Callable[[], bool]) -> None:
    with anyio.fail_after(20):
        while not check():  # noqa: ASYNC110 - polling state fed by real HTTP
            await anyio.sleep(0.005)


@asynccontextmanager
async def _replica(
    name: str,
    kube: KubeEmulator,
    kubeconfig: Path,
    clock: FakeClock,
    handling: Handling,
    watches: dict[str, ContinuumWatch] | None = None,
    actor: type[TracedActor] | None = None,
) -> AsyncIterator[Membership]:
    async with AsyncExitStack() as stack:
        api = await config.new_client_from_config(config_file=str(kubeconfig), context="r")
        stack.push_async_callback(api.close)
        clients = await KubeClients.from_kubeconfig(str(kubeconfig), {"r": "r"})
        await stack.enter_async_context(clients)
        member = Membership(api, group=GROUP, namespace=NAMESPACE, identity=name, clock=clock)
        await stack.enter_async_context(member.joined())
        sup = await stack.enter_async_context(Supervisor(clock=clock))
        watch = ContinuumWatch(
            ContinuumApi(clients.for_region("r"), clock=clock),
            sup,
            lambda cr: (actor or TracedActor)(cr, name, handling),
            clock=clock,
            shard=member,
        )
        member.follow(watch.rebalance)
        stack.callback(member.unfollow, watch.rebalance)
        if watches is not None:
            watches[name] = watch
        tg = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(tg.cancel_scope.cancel)
        tg.start_soon(watch.run)
        await watch.wait_synced()
        yield member


async def test_replicas_share_the_crs_and_hand_them_over_without_overlap(
    tmp_path: Path,
) -> None:
    handling = Handling()
    clock = FakeClock()
    async with KubeEmulator(region="r", crd_paths=bundled_crd_paths()) as kube:
        for ns in ("acme", NAMESPACE):
            kube.ensure_namespace(ns)
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"r": kube})
        for n in range(CRS):
            kube.apply(_cr(f"cr-{n:02d}"))
        keys = {f"acme/cr-{n:02d}" for n in range(CRS)}
        async with autojumping(clock), _replica("a", kube, kubeconfig, clock, handling):
            await _until(lambda: set(handling.running()) == keys)
            async with _replica("b", kube, kubeconfig, clock, handling):
                # b joins: a hands over b's share, which b starts only after a stopped it.
                await _until(lambda: any("b" in v for v in handling.running().values()))
                await _until(lambda: set(handling.running()) == keys)
                await clock.sleep(30)
                running = handling.running()
                assert set(running) == keys
                assert all(len(v) == 1 for v in running.values())
                assert {r for v in running.values() for r in v} == {"a", "b"}
                # a's stops handed b's share over (its actors renew for b on the way out)
                assert handling.stops
                assert all(r == "a" and over for _, r, over in handling.stops)
                handed = len(handling.stops)
                async with _replica("c", kube, kubeconfig, clock, handling):
                    await _until(lambda: any("c" in v for v in handling.running().values()))
                    await clock.sleep(30)
                    running = handling.running()
                    assert set(running) == keys
                    assert {r for v in running.values() for r in v} == {"a", "b", "c"}
                # c left cleanly (actors stopped, Lease deleted): its CRs come back.
                await _until(lambda: set(handling.running()) == keys)
                left = [over for _, r, over in handling.stops[handed:] if r == "c"]
                assert left
                assert not any(left)  # a shutdown is no hand-over
                kube.apply(_cr("late"))  # a CR created while sharded goes to one replica
                await _until(lambda: "acme/late" in handling.running())
                await clock.sleep(15)
            await _until(lambda: set(handling.running()) == keys | {"acme/late"})
            assert {r for v in handling.running().values() for r in v} == {"a"}
    assert not handling.doubles


async def test_events_of_another_replicas_crs_cost_no_ownership_pass(tmp_path: Path) -> None:
    """What saturated a joining replica: every event of a CR another replica runs (its actor's
    status writes) ran an O(CRs) ownership pass here. Such an event needs none."""
    handling = Handling()
    clock = FakeClock()
    watches: dict[str, ContinuumWatch] = {}
    async with KubeEmulator(region="r", crd_paths=bundled_crd_paths()) as kube:
        for ns in ("acme", NAMESPACE):
            kube.ensure_namespace(ns)
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"r": kube})
        for n in range(CRS):
            kube.apply(_cr(f"cr-{n:02d}"))
        keys = {f"acme/cr-{n:02d}" for n in range(CRS)}
        async with (
            autojumping(clock),
            _replica("a", kube, kubeconfig, clock, handling, watches),
            _replica("b", kube, kubeconfig, clock, handling, watches),
        ):
            await _until(
                lambda: (
                    set(handling.running()) == keys
                    and {r for v in handling.running().values() for r in v} == {"a", "b"}
                )
            )
            a = watches["a"]
            theirs = sorted(k for k, v in handling.running().items() if v == {"b"})
            ours = sorted(k for k, v in handling.running().items() if v == {"a"})
            assert theirs
            assert ours
            events, settles = a.stats.events, a.stats.event_settles
            for key in theirs:  # a metadata-only change: an event, no new generation
                body = _cr(key.split("/")[1])
                body["metadata"]["annotations"] = {"touched": "yes"}
                kube.apply(body)
            await _until(lambda: a.stats.events >= events + len(theirs))
            assert a.stats.event_settles == settles
            events = a.stats.events
            body = _cr(ours[0].split("/")[1])
            body["metadata"]["annotations"] = {"touched": "yes"}
            kube.apply(body)  # ours and running: no pass either
            await _until(lambda: a.stats.events >= events + 1)
            assert a.stats.event_settles == settles
    assert not handling.doubles


@asynccontextmanager
async def _four_crs(tmp_path: Path) -> AsyncIterator[tuple[KubeEmulator, Path, set[str]]]:
    """An emulated cluster holding four CRs: the emulator, its kubeconfig and the CR keys."""
    async with KubeEmulator(region="r", crd_paths=bundled_crd_paths()) as kube:
        for ns in ("acme", NAMESPACE):
            kube.ensure_namespace(ns)
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"r": kube})
        for n in range(4):
            kube.apply(_cr(f"cr-{n:02d}"))
        yield kube, kubeconfig, {f"acme/cr-{n:02d}" for n in range(4)}


async def test_every_actor_runs_under_its_replicas_write_check(tmp_path: Path) -> None:
    """The watch binds the membership's write check to each actor it spawns, so a fenced
    replica's actors write nothing while they wait to be stopped (docs/sharding.md)."""
    handling = Handling()
    clock = FakeClock()
    GateRecorder.checks.clear()
    async with _four_crs(tmp_path) as (kube, kubeconfig, keys):
        async with (
            autojumping(clock),
            _replica("a", kube, kubeconfig, clock, handling, actor=GateRecorder) as member,
        ):
            await _until(lambda: set(GateRecorder.checks) == keys)
            checks = list(GateRecorder.checks.values())
            assert all(c is not None and c() is None for c in checks)
            with write_gate.bound(member.write_check()):
                assert write_gate.refusal() is None
            assert all(c.__qualname__ == member.write_check().__qualname__ for c in checks)
        assert write_gate.current() is None  # the test's own task never had one bound


class StopWriter(TracedActor):
    """Tries one write to its CR (the finalizer) while it stops, as a compensation the stop
    cannot cut would; records what happened."""

    api: ClassVar[ContinuumApi | None] = None
    outcomes: ClassVar[dict[str, str]] = {}

    async def on_stop(self, error: BaseException | None) -> None:
        await super().on_stop(error)
        assert StopWriter.api is not None
        namespace, name = self.key.split("/")
        try:
            await StopWriter.api.set_finalizer(namespace, name, FINALIZER, present=True)
        except Unavailable as exc:
            StopWriter.outcomes[self.key] = str(exc)
        else:
            StopWriter.outcomes[self.key] = "written"


async def test_a_fenced_replicas_stopping_actors_write_nothing(tmp_path: Path) -> None:
    """Over real HTTP: the replica's Lease renewals fail until it fences; every actor the fence
    stops tries a write meanwhile, and none reaches the API server. A clean stop of a
    current replica writes (the control)."""
    handling = Handling()
    clock = FakeClock()
    StopWriter.outcomes.clear()
    async with _four_crs(tmp_path) as (kube, kubeconfig, keys):
        clients = await KubeClients.from_kubeconfig(str(kubeconfig), {"r": "r"})
        async with clients:
            StopWriter.api = ContinuumApi(clients.for_region("r"), clock=clock)
            async with (
                autojumping(clock),
                _replica("a", kube, kubeconfig, clock, handling, actor=StopWriter) as member,
            ):
                await _until(lambda: set(handling.running()) == keys)
                kube.faults.fail(method="PUT", resource="leases", count=None)
                await _until(lambda: set(StopWriter.outcomes) == keys)
                assert member.fenced
                assert not handling.running()
                for outcome in StopWriter.outcomes.values():
                    assert "not written: shard member a" in outcome
                for key in keys:
                    assert FINALIZER not in _finalizers(kube, key)
                assert not [w for w in kube.requests.writes() if w.resource == "continuums"]

                kube.faults.clear()  # renewals work again: it rejoins, starts them anew
                StopWriter.outcomes.clear()
                await _until(lambda: set(handling.running()) == keys)
            # The replica left cleanly while current: the stops' writes went through.
            assert StopWriter.outcomes == dict.fromkeys(keys, "written")
            for key in keys:
                assert FINALIZER in _finalizers(kube, key)
    assert not handling.doubles


def _finalizers(kube: KubeEmulator, key: str) -> list[str]:
    namespace, name = key.split("/")
    stored = kube.store.get("dr.openova.io", "continuums", namespace, name)
    assert stored is not None
    return list(stored["metadata"].get("finalizers") or [])
