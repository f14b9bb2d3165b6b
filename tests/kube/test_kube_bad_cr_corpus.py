"""The bad-CR corpus (``tests/fixtures/corpus/bad-crs.yaml``): every malformed or
semantically broken Continuum ends refused naming the field — at admission (the Kubernetes
emulator answers 422 against the CRD) or at the controller's first observation (the watch,
with the controller's own configuration check, marks it ``Failed`` with ``SpecValid=False``
naming the field). None gets an actor, none is left without a verdict.

Each entry is also written straight into the store with admission bypassed (as an older CRD
or a broken webhook would let it through): the controller alone must refuse every one.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml

from continuum.adapters.continuums import ContinuumApi, decode_status
from continuum.clock import FakeClock
from continuum.supervisor.serving import ServingFacts, check_serving
from continuum.supervisor.supervisor import Supervisor
from continuum.supervisor.watch import ContinuumWatch
from continuum.wiring.witness import WitnessOptions
from tests.kube.conftest import FIXTURES, REGION_A, REGION_B, Regions, autojumping
from tests.kube.test_kube_continuum_watch import Log, RecordingActor, _until

pytestmark = pytest.mark.anyio

CORPUS: list[dict[str, Any]] = yaml.safe_load((FIXTURES / "corpus" / "bad-crs.yaml").read_text())
BASE: dict[str, Any] = yaml.safe_load((FIXTURES / "continuum-cnpg-pair.yaml").read_text())


def _walk(node: Any, part: str) -> Any:
    return node[int(part)] if isinstance(node, list) else node[part]


def _put(node: Any, part: str, value: Any) -> None:
    if isinstance(node, list):
        index = int(part)
        if index == len(node):
            node.append(value)
        else:
            node[index] = value
    else:
        node[part] = value


def _object(entry: dict[str, Any], name: str) -> dict[str, Any]:
    obj = copy.deepcopy(BASE)
    obj["metadata"] = {"name": name, "namespace": "acme"}
    spec = obj["spec"] if "spec" not in entry else copy.deepcopy(entry["spec"])
    for path, value in (entry.get("set") or {}).items():
        *parents, leaf = str(path).split(".")
        node = spec
        for part in parents:
            node = _walk(node, part)
        _put(node, leaf, copy.deepcopy(value))
    for path in entry.get("drop") or []:
        *parents, leaf = str(path).split(".")
        node = spec
        for part in parents:
            node = _walk(node, part)
        if isinstance(node, list):
            node.pop(int(leaf))
        else:
            node.pop(leaf)
    obj["spec"] = spec
    return obj


def _facts(kubeconfig: Path) -> ServingFacts:
    """A controller with a kubeconfig context per region, no NATS, no in-memory witness."""
    return ServingFacts(
        witness=WitnessOptions(kubeconfig=str(kubeconfig)),
        context_regions=(REGION_A, REGION_B),
        dns_writer=True,
    )


@asynccontextmanager
async def _watch(
    api: ContinuumApi, facts: ServingFacts, log: Log, clock: FakeClock
) -> AsyncIterator[ContinuumWatch]:
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
            check=functools.partial(check_serving, facts=facts),
        )
        tg.start_soon(watch.run)
        await watch.wait_synced()
        yield watch
        tg.cancel_scope.cancel()


def test_the_corpus_is_large_and_each_entry_is_distinct() -> None:
    ids = [entry["id"] for entry in CORPUS]
    assert len(ids) >= 100
    assert len(set(ids)) == len(ids)
    assert all(str(entry.get("expect", "")).startswith("spec") for entry in CORPUS)


def _verdict(raw: dict[str, Any] | None, expect: str) -> str:
    """'' when ``raw`` is Failed with a SpecValid=False message naming ``expect``."""
    if raw is None:
        return "gone"
    status = decode_status(raw)
    cond = status.condition("SpecValid")
    if status.phase != "Failed" or cond is None or cond.status != "False":
        return f"phase {status.phase!r}"
    if expect not in cond.message:
        return f"message {cond.message[:160]!r} does not name {expect}"
    return ""


async def test_every_bad_cr_is_refused_naming_the_field_and_none_gets_an_actor(
    regions: Regions,
) -> None:
    kube = regions.a
    clock = FakeClock()
    log: Log = []
    api = ContinuumApi(regions.clients.for_region(kube.region), clock=clock)
    outcome: dict[str, str] = {}
    url = f"{kube.url}/apis/dr.openova.io/v1/namespaces/acme/continuums"
    async with httpx.AsyncClient(timeout=10) as http:
        for index, entry in enumerate(CORPUS):
            answer = await http.post(url, json=_object(entry, f"http-{index:03d}"))
            if answer.status_code == 422:
                causes = answer.json().get("details", {}).get("causes", [])
                named = [c.get("field", "") for c in causes] + [answer.json().get("message", "")]
                assert any(entry["expect"] in text for text in named), (entry["id"], answer.text)
                outcome[entry["id"]] = "refused-at-admission"
            else:
                assert answer.status_code == 201, (entry["id"], answer.text)
                outcome[entry["id"]] = "failed-at-first-observation"
    rt = kube.resource_type("dr.openova.io", "v1", "continuums")
    for index, entry in enumerate(CORPUS):
        kube.store.create(
            dataclasses.replace(rt, schema=None), "acme", _object(entry, f"raw-{index:03d}")
        )

    facts = _facts(regions.kubeconfig)
    async with _watch(api, facts, log, clock) as watch:
        expected = {f"raw-{i:03d}": e["expect"] for i, e in enumerate(CORPUS)} | {
            f"http-{i:03d}": e["expect"]
            for i, e in enumerate(CORPUS)
            if outcome[e["id"]] == "failed-at-first-observation"
        }

        def problems() -> dict[str, str]:
            found = {}
            for name, expect in expected.items():
                raw = kube.store.get("dr.openova.io", "continuums", "acme", name)
                verdict = _verdict(raw, expect)
                if verdict:
                    found[name] = verdict
            return found

        try:
            await _until(lambda: not problems(), "every bad CR Failed naming its field")
        except TimeoutError:
            report = {
                CORPUS[int(name.split("-")[1])]["id"] + f" ({name})": why
                for name, why in problems().items()
            }
            raise AssertionError(report) from None
        assert watch.stats.spawned == 0, [entry for entry in log if entry[0] == "spawn"]

    counts = Counter(outcome.values())
    print(
        f"\nbad-CR corpus: {len(CORPUS)} CRs; over HTTP "
        + ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        + f"; written past admission: failed-at-first-observation={len(CORPUS)}; "
        "healthy=0 silent=0"
    )


CONFLICTS: list[dict[str, Any]] = yaml.safe_load(
    (FIXTURES / "corpus" / "conflicting-crs.yaml").read_text()
)


def _own(name: str, edits: dict[str, Any]) -> dict[str, Any]:
    """The base CR under ``name`` with its own pair, route and hostname, then ``edits``."""
    mine = {
        "cnpgPair": {"name": f"{name}-pg"},
        "httpRoute": {"name": name},
        "luaRecord.hostnames": [f"{name}.acme.example.io"],
    }
    return _object({"set": {**mine, **edits}}, name)


async def test_every_conflicting_pair_ends_in_a_conflict_naming_the_field_and_the_owner(
    regions: Regions,
) -> None:
    """Each claimant is created after its owner (one second later on the API server's clock
    is not guaranteed, so the owner is whichever the server dated first — the rule)."""
    kube = regions.a
    clock = FakeClock()
    log: Log = []
    api = ContinuumApi(regions.clients.for_region(kube.region), clock=clock)
    for index, entry in enumerate(CONFLICTS):
        kube.apply(_own(f"c{index:02d}-owner", entry["owner"]))
        kube.apply(_own(f"c{index:02d}-claimant", entry["claimant"]))

    def first_of(index: int) -> tuple[str, str]:
        names = [f"c{index:02d}-owner", f"c{index:02d}-claimant"]

        def order(name: str) -> tuple[str, str]:
            raw = kube.store.get("dr.openova.io", "continuums", "acme", name)
            assert raw is not None
            return (raw["metadata"]["creationTimestamp"], raw["metadata"]["uid"])

        first, second = sorted(names, key=order)
        return first, second

    def problems(watch: ContinuumWatch) -> dict[str, str]:
        found: dict[str, str] = {}
        for index, entry in enumerate(CONFLICTS):
            owner, claimant = first_of(index)
            if entry["expect"] is None:
                for name in (owner, claimant):
                    known = f"acme/{name}" in set(watch.keys())
                    if not known or watch.conflicts.get(f"acme/{name}"):
                        found[entry["id"]] = f"{name} is in conflict"
                continue
            raw = kube.store.get("dr.openova.io", "continuums", "acme", claimant)
            status = decode_status(raw) if raw else None
            cond = status.condition("Conflict") if status else None
            if status is None or status.phase != "Failed" or cond is None:
                found[entry["id"]] = f"no Conflict on {claimant}"
            elif entry["expect"] not in cond.message or f"acme/{owner}" not in cond.message:
                found[entry["id"]] = cond.message
        return found

    async with _watch(api, _facts(regions.kubeconfig), log, clock) as watch:
        try:
            await _until(lambda: not problems(watch), "every claimant in Conflict")
        except TimeoutError:
            raise AssertionError(problems(watch)) from None
        spawned = {who for kind, who, _ in log if kind == "spawn"}
    conflicted = {f"acme/{first_of(i)[1]}" for i, e in enumerate(CONFLICTS) if e["expect"]}
    assert not spawned & conflicted
    assert len(spawned) == 2 * len(CONFLICTS) - len(conflicted)
    print(
        f"\nconflict corpus: {len(CONFLICTS)} pairs; conflict={len(conflicted)} "
        f"no-conflict={len(CONFLICTS) - len(conflicted)}; healthy=0 silent=0"
    )
