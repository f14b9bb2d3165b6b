"""The CR watch drives the supervisor: spawn on first sight, SpecObserved on a spec change,
stop once the CR is gone (a deletion the finalizer holds is told to the actor instead); it
survives a killed connection and a 410 without losing or duplicating
actors; an invalid CR is reported in its status and never gets an actor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
import yaml

from continuum.actors.runtime import Actor
from continuum.adapters.continuums import ContinuumApi, ContinuumFinalizers, decode_status
from continuum.adapters.kube import KubeClients
from continuum.clock import FakeClock
from continuum.messages.commands import DeletionObserved, SpecInvalid, SpecObserved
from continuum.messages.crd import FINALIZER, Continuum
from continuum.supervisor.supervisor import Supervisor
from continuum.supervisor.watch import ContinuumWatch
from continuum_sim.kube import KubeEmulator, bundled_crd_paths, write_kubeconfig
from tests.kube.conftest import FIXTURES, REGION_A, Regions, autojumping

pytestmark = pytest.mark.anyio

Log = list[tuple[str, str, Any]]


class RecordingActor(Actor):
    """Records its life and every message into a shared log."""

    def __init__(self, cr: Continuum, log: Log) -> None:
        self.key, self.log = cr.key, log
        log.append(("spawn", cr.key, cr.metadata.generation))

    async def on_message(self, message: msgspec.Struct) -> object:
        self.log.append((type(message).__name__, self.key, message))
        return None

    async def on_stop(self, error: BaseException | None) -> None:
        self.log.append(("stop", self.key, error))


def _cr(name: str, namespace: str = "acme", **spec: Any) -> dict[str, Any]:
    body = yaml.safe_load((FIXTURES / "continuum-minimal.yaml").read_text())
    body["metadata"] = {"name": name, "namespace": namespace}
    # One pair per CR: two CRs naming the same pair would be in conflict (ownership).
    body["spec"]["cnpgPair"] = {"name": f"{name}-pg"}
    body["spec"].update(spec)
    assert isinstance(body, dict)
    return body


async def _until(check: Callable[[], bool], what: str = "condition") -> None:
    """Poll ``check`` (state fed by real HTTP) with a bounded real deadline."""
    with anyio.fail_after(10, shield=False):
        while not check():  # noqa: ASYNC110 - polling state fed by real HTTP
            await anyio.sleep(0.005)


def _count(log: Log, kind: str, key: str | None = None) -> int:
    return sum(1 for k, who, _ in log if k == kind and (key is None or who == key))


@asynccontextmanager
async def _watching(
    kube: KubeEmulator, clients: KubeClients, *, namespaces: list[str] | None = None
) -> AsyncIterator[tuple[ContinuumWatch, Supervisor, Log, FakeClock]]:
    clock, log = FakeClock(), []
    api = ContinuumApi(clients.for_region(kube.region), clock=clock)
    async with (
        autojumping(clock),
        Supervisor(clock=clock) as sup,
        anyio.create_task_group() as tg,
    ):
        watch = ContinuumWatch(
            api,
            sup,
            lambda cr: RecordingActor(cr, log),
            clock=clock,
            namespaces=namespaces,
            backoff_initial=1.0,
            finalizers=ContinuumFinalizers(api),
        )
        tg.start_soon(watch.run)
        await watch.wait_synced()
        yield watch, sup, log, clock
        tg.cancel_scope.cancel()


async def test_create_update_delete_become_spawn_spec_observed_stop(regions: Regions) -> None:
    kube = regions.a
    kube.apply(_cr("one"))
    async with _watching(kube, regions.clients) as (watch, sup, log, _):
        assert watch.synced
        await _until(lambda: len(sup.registry) == 1)
        kube.apply(_cr("two"))
        await _until(lambda: "acme/two" in sup.registry)
        kube.apply(_cr("one", rto="90s"))
        await _until(lambda: _count(log, "SpecObserved", "acme/one") == 1)
        observed = next(m for k, who, m in log if k == "SpecObserved")
        assert isinstance(observed, SpecObserved)
        assert observed.continuum.spec.rto == "90s"
        # A status-only write (the actor's own kind of write) is not a spec change.
        api = ContinuumApi(regions.clients.for_region(REGION_A))
        await api.update_status(
            "acme", "one", lambda s: msgspec.structs.replace(s, phase="Healthy")
        )
        kube.store.delete(kube.resource_type("dr.openova.io", "v1", "continuums"), "acme", "two")
        await _until(lambda: "acme/two" not in sup.registry)
        assert _count(log, "SpecObserved", "acme/one") == 1
    assert _count(log, "spawn", "acme/one") == 1
    assert _count(log, "spawn", "acme/two") == 1
    assert log.index(("stop", "acme/two", None)) < len(log)


async def test_only_the_namespaces_asked_for_are_watched(regions: Regions) -> None:
    regions.a.ensure_namespace("other")
    regions.a.apply(_cr("mine"))
    regions.a.apply(_cr("theirs", namespace="other"))
    async with _watching(regions.a, regions.clients, namespaces=["acme"]) as (_, sup, _l, _c):
        await _until(lambda: len(sup.registry) == 1)
        assert sup.registry.keys() == ["acme/mine"]


async def test_killed_watch_resumes_without_losing_or_duplicating_actors(
    regions: Regions,
) -> None:
    kube = regions.a
    for name in ("a1", "a2", "a3"):
        kube.apply(_cr(name))
    async with _watching(kube, regions.clients) as (watch, sup, log, clock):
        await _until(lambda: len(sup.registry) == 3)
        await _until(lambda: len(kube.store.watchers()) == 1)
        # Cut every watch mid-stream and refuse reconnection for a while.
        kube.faults.fail(verb="watch", resource="continuums", status=503, count=2)
        start = clock.monotonic()
        assert kube.kill_watches() >= 1
        kube.apply(_cr("a4"))
        kube.apply(_cr("a1", rto="2m"))
        await _until(lambda: len(sup.registry) == 4)
        await _until(lambda: _count(log, "SpecObserved", "acme/a1") == 1)
        assert watch.stats.reconnects >= 2
        assert clock.monotonic() - start >= 1.0 + 2.0  # backed off on the clock
        assert watch.stats.relists_after_expiry == 0  # resumed, not relisted
        assert watch.stats.lists == 1
    for name in ("a1", "a2", "a3", "a4"):
        assert _count(log, "spawn", f"acme/{name}") == 1


async def test_expired_resource_version_relists_and_reconciles_the_difference(
    tmp_path: Path,
) -> None:
    async with KubeEmulator(region="r", crd_paths=bundled_crd_paths(), history_limit=3) as kube:
        kube.ensure_namespace("acme")
        path = write_kubeconfig(tmp_path / "kubeconfig", {"r": kube})
        async with await KubeClients.from_kubeconfig(str(path), {"r": "r"}) as clients:
            for name in ("keep", "gone"):
                kube.apply(_cr(name))
            async with _watching(kube, clients) as (watch, sup, log, _):
                await _until(lambda: len(sup.registry) == 2)
                await _until(lambda: len(kube.store.watchers()) == 1)
                kube.faults.fail(verb="watch", resource="continuums", status=503, count=None)
                kube.kill_watches()
                rt = kube.resource_type("dr.openova.io", "v1", "continuums")
                kube.store.delete(rt, "acme", "gone")
                for index in range(6):  # push the old resourceVersion out of the history
                    kube.apply(_cr(f"new{index}"))
                kube.faults.clear()
                await _until(lambda: watch.stats.relists_after_expiry >= 1)
                # The exact set (a count of 7 is also reached on the way: "gone" not yet
                # stopped while the sixth new CR is not yet spawned).
                expected = {"acme/keep", *(f"acme/new{index}" for index in range(6))}
                await _until(lambda: set(sup.registry.keys()) == expected)
                assert watch.stats.lists == 2
            assert _count(log, "spawn", "acme/keep") == 1
            assert _count(log, "stop", "acme/gone") == 1


async def test_invalid_cr_gets_failed_status_naming_the_field_and_no_actor(
    regions: Regions,
) -> None:
    kube = regions.a
    bad = _cr("bad")
    bad["spec"]["leaseClient"]["config"] = {"ttlSeconds": 30, "renewSeconds": 20}
    # The CRD's CEL rule refuses it; stored as an older CRD would have let it through.
    kube.apply(bad, validate=False)
    api = ContinuumApi(regions.clients.for_region(REGION_A))
    async with _watching(kube, regions.clients) as (watch, sup, log, _):
        await _until(lambda: watch.stats.invalid == 1)
        status = decode_status(await api.get_raw("acme", "bad"))
        assert status.phase == "Failed"
        cond = status.condition("SpecValid")
        assert cond is not None
        assert cond.status == "False"
        assert "spec.leaseClient.config.renewSeconds" in cond.message
        assert len(sup.registry) == 0
        # Fixed: the actor is spawned and the condition turns True.
        kube.apply(_cr("bad"))
        await _until(lambda: "acme/bad" in sup.registry)
        await _until(
            lambda: (
                kube.store.get("dr.openova.io", "continuums", "acme", "bad")["status"]["phase"]
                == "Pending"
            )
        )
        assert _count(log, "spawn", "acme/bad") == 1


async def test_running_actor_is_told_spec_invalid_and_keeps_running(regions: Regions) -> None:
    kube = regions.a
    kube.apply(_cr("live"))
    async with _watching(kube, regions.clients) as (_, sup, log, _c):
        await _until(lambda: "acme/live" in sup.registry)
        ref = sup.registry.get("acme/live")
        bad = _cr("live")
        # The CRD's CEL rule refuses it; stored as an older CRD would have let it through.
        bad["spec"]["leaseClient"]["config"] = {"ttlSeconds": 30, "renewSeconds": 20}
        kube.apply(bad, validate=False)
        await _until(lambda: _count(log, "SpecInvalid", "acme/live") == 1)
        message = next(m for k, _, m in log if k == "SpecInvalid")
        assert isinstance(message, SpecInvalid)
        assert message.field == "spec.leaseClient.config.renewSeconds"
        assert ref is not None
        assert ref.alive
        assert sup.registry.get("acme/live") is ref
        kube.apply(_cr("live", rto="30s"))
        await _until(lambda: _count(log, "SpecObserved", "acme/live") == 1)
        assert _count(log, "stop", "acme/live") == 0


def _stored(kube: KubeEmulator, name: str) -> dict[str, Any] | None:
    return kube.store.get("dr.openova.io", "continuums", "acme", name)


def _delete(kube: KubeEmulator, name: str) -> None:
    kube.store.delete(kube.resource_type("dr.openova.io", "v1", "continuums"), "acme", name)


def _invalid(name: str, **metadata: Any) -> dict[str, Any]:
    bad = _cr(name)
    bad["metadata"].update(metadata)
    # The CRD's CEL rule refuses it; stored as an older CRD would have let it through.
    bad["spec"]["leaseClient"]["config"] = {"ttlSeconds": 30, "renewSeconds": 20}
    return bad


async def test_a_deletion_held_by_the_finalizer_is_told_to_the_actor_which_is_not_stopped(
    regions: Regions,
) -> None:
    kube = regions.a
    body = _cr("held")
    body["metadata"]["finalizers"] = [FINALIZER]
    kube.apply(body)
    async with _watching(kube, regions.clients) as (_, sup, log, _c):
        await _until(lambda: "acme/held" in sup.registry)
        ref = sup.registry.get("acme/held")
        _delete(kube, "held")
        await _until(lambda: _count(log, "SpecObserved", "acme/held") == 1)
        observed = next(m for k, _, m in log if k == "SpecObserved")
        assert isinstance(observed, SpecObserved)
        assert observed.continuum.deleting
        assert observed.continuum.finalized_by_us
        assert ref is not None
        assert ref.alive
        assert _count(log, "stop", "acme/held") == 0
        # What the actor does once nothing is in flight: the CR goes, the actor is stopped.
        api = ContinuumApi(regions.clients.for_region(REGION_A))
        await ContinuumFinalizers(api).remove_finalizer("acme/held")
        await _until(lambda: "acme/held" not in sup.registry)
        assert _stored(kube, "held") is None
    assert _count(log, "stop", "acme/held") == 1
    assert _count(log, "spawn", "acme/held") == 1


async def test_a_cr_being_deleted_without_the_finalizer_has_its_actor_stopped(
    regions: Regions,
) -> None:
    """Another controller's finalizer keeps the CR; ours is not on it (never added, or let
    go): nothing of ours holds it, so its actor stops and is not spawned again."""
    kube = regions.a
    body = _cr("other")
    body["metadata"]["finalizers"] = ["other.io/keep"]
    kube.apply(body)
    async with _watching(kube, regions.clients) as (_, sup, log, _c):
        await _until(lambda: "acme/other" in sup.registry)
        _delete(kube, "other")
        await _until(lambda: "acme/other" not in sup.registry)
        stored = _stored(kube, "other")
        assert stored is not None
        assert stored["metadata"]["deletionTimestamp"]
    assert _count(log, "stop", "acme/other") == 1
    assert _count(log, "spawn", "acme/other") == 1


async def test_a_running_actor_whose_cr_turned_invalid_is_told_of_the_deletion(
    regions: Regions,
) -> None:
    kube = regions.a
    body = _cr("live")
    body["metadata"]["finalizers"] = [FINALIZER]
    kube.apply(body)
    async with _watching(kube, regions.clients) as (_, sup, log, _c):
        await _until(lambda: "acme/live" in sup.registry)
        kube.apply(_invalid("live", finalizers=[FINALIZER]), validate=False)
        await _until(lambda: _count(log, "SpecInvalid", "acme/live") == 1)
        _delete(kube, "live")
        await _until(lambda: _count(log, "DeletionObserved", "acme/live") == 1)
        told = next(m for k, _, m in log if k == "DeletionObserved")
        assert isinstance(told, DeletionObserved)
        assert _count(log, "stop", "acme/live") == 0
        assert _stored(kube, "live") is not None  # the actor lets go, not the watch


async def test_a_cr_that_can_have_no_actor_is_let_go_by_the_watch_unless_a_journal_is_open(
    regions: Regions,
) -> None:
    """Invalid since before this process started, but carrying our finalizer (an earlier
    process ran it): no actor here can finish anything, so the watch removes the finalizer
    — unless the status holds an open journal, which waits for a fix or the runbook."""
    kube = regions.a
    kube.apply(_invalid("idle", finalizers=[FINALIZER]), validate=False)
    kube.apply(_invalid("journal", finalizers=[FINALIZER]), validate=False)
    journal = {
        "id": "run-1",
        "step": "drain-http",
        "stepIndex": 3,
        "from": REGION_A,
        "to": "region-b",
        "epoch": 1,
        "startedAt": "2026-01-01T12:00:00Z",
    }
    kube.store.patch(
        kube.resource_type("dr.openova.io", "v1", "continuums"),
        "acme",
        "journal",
        {"status": {"switchover": journal}},
        content_type="application/merge-patch+json",
        subresource="status",
    )
    assert (_stored(kube, "journal") or {})["status"]["switchover"]["id"] == "run-1"
    async with _watching(kube, regions.clients) as (watch, sup, _l, _c):
        await _until(lambda: watch.stats.invalid == 2)
        _delete(kube, "journal")
        _delete(kube, "idle")  # handled after the first: once it is gone, both were seen
        await _until(lambda: _stored(kube, "idle") is None)
        assert len(sup.registry) == 0
        stored = _stored(kube, "journal")
        assert stored is not None
        assert stored["metadata"]["finalizers"] == [FINALIZER]


async def test_crs_created_after_the_list_are_placed_without_a_pass_over_every_cr(
    regions: Regions,
) -> None:
    """Ownership is kept one change at a time: each new CR costs a settle of the CRs it may
    affect, never a pass over the whole fleet; of a late CR and the one whose pair it names,
    the later (by creationTimestamp, then uid) gets the conflict, and its actor once the
    owner is gone."""
    kube = regions.a
    kube.apply(_cr("first"))
    async with _watching(kube, regions.clients) as (watch, sup, _log, _):
        full = watch.stats.full_settles
        assert full == 1
        for n in range(20):
            kube.apply(_cr(f"cr-{n:02d}"))
        late = _cr("late")
        late["spec"]["cnpgPair"] = {"name": "cr-03-pg"}
        kube.apply(late)
        await _until(lambda: len(sup.registry) == 21)
        # Created in the same second, the two are ordered by uid: either may own the pair.
        pair = ("acme/cr-03", "acme/late")
        await _until(lambda: any(watch.conflicts.get(k) is not None for k in pair))
        loser = next(k for k in pair if watch.conflicts.get(k) is not None)
        owner = next(k for k in pair if k != loser)
        conflict = watch.conflicts.get(loser)
        assert conflict is not None
        assert conflict.owner == owner
        assert loser not in sup.registry
        assert owner in sup.registry
        _delete(kube, owner.partition("/")[2])
        await _until(lambda: loser in sup.registry)
        assert watch.conflicts.get(loser) is None
        assert watch.conflicts.keys() == []
        assert watch.stats.full_settles == full
