"""Ownership through the CR watch over the Kubernetes API emulator: of two Continuums naming
the same CNPG pair, HTTPRoute or hostname, the earlier (creationTimestamp, then uid) acts and
the later gets ``Conflict=True`` naming it, phase ``Failed`` and no actor — the same after a
restart; when the owner is deleted or stops naming the resource, the later one takes over."""

from __future__ import annotations

from typing import Any

import pytest

from continuum.adapters.continuums import ContinuumApi, decode_status
from continuum.messages.status import ContinuumStatus
from continuum_sim.kube import KubeEmulator
from tests.kube.conftest import REGION_A, Regions
from tests.kube.test_kube_continuum_watch import _count, _cr, _until, _watching

pytestmark = pytest.mark.anyio


def _order(kube: KubeEmulator, *names: str) -> list[str]:
    """``names`` from the earliest claimant to the latest, as the API server dated them."""

    def key(name: str) -> tuple[str, str]:
        raw = kube.store.get("dr.openova.io", "continuums", "acme", name)
        assert raw is not None
        meta: dict[str, Any] = raw["metadata"]
        return (str(meta["creationTimestamp"]), str(meta["uid"]))

    return sorted(names, key=key)


def _status(kube: KubeEmulator, name: str) -> ContinuumStatus:
    raw = kube.store.get("dr.openova.io", "continuums", "acme", name)
    assert raw is not None
    return decode_status(raw)


def _in_conflict_with(kube: KubeEmulator, name: str, owner: str, field: str) -> bool:
    status = _status(kube, name)
    cond = status.condition("Conflict")
    return (
        status.phase == "Failed"
        and cond is not None
        and cond.status == "True"
        and f"acme/{owner}" in cond.message
        and field in cond.message
    )


async def test_the_later_claimant_gets_a_conflict_naming_the_owner_and_never_an_actor(
    regions: Regions,
) -> None:
    kube = regions.a
    kube.apply(_cr("shop-one", cnpgPair={"name": "shared-pg"}))
    kube.apply(_cr("shop-two", cnpgPair={"name": "shared-pg"}))
    owner, loser = _order(kube, "shop-one", "shop-two")
    for _restart in range(2):  # the same verdict after a restart of the controller
        async with _watching(kube, regions.clients) as (watch, sup, log, _):
            await _until(lambda: _in_conflict_with(kube, loser, owner, "spec.cnpgPair"))
            assert sup.registry.keys() == [f"acme/{owner}"]
            assert _count(log, "spawn", f"acme/{loser}") == 0
            conflict = watch.conflicts.get(f"acme/{loser}")
            assert conflict is not None
            assert conflict.owner == f"acme/{owner}"
    async with _watching(kube, regions.clients) as (watch, sup, log, _):
        await _until(lambda: f"acme/{owner}" in sup.registry)
        kube.store.delete(kube.resource_type("dr.openova.io", "v1", "continuums"), "acme", owner)
        await _until(lambda: f"acme/{loser}" in sup.registry)
        await _until(lambda: _status(kube, loser).condition("Conflict") is not None)
        cond = _status(kube, loser).condition("Conflict")
        assert cond is not None
        await _until(lambda: (_status(kube, loser).condition("Conflict") or cond).status == "False")
        assert _status(kube, loser).phase == "Pending"
        assert watch.conflicts.get(f"acme/{loser}") is None
        assert _count(log, "spawn", f"acme/{loser}") == 1


async def test_an_earlier_cr_that_starts_naming_a_route_stops_the_later_ones_actor(
    regions: Regions,
) -> None:
    kube = regions.a
    kube.apply(_cr("first", httpRoute={"name": "web-first"}))
    kube.apply(_cr("second", httpRoute={"name": "web-second"}))
    earlier, later = _order(kube, "first", "second")
    route = {"name": f"web-{later}"}
    async with _watching(kube, regions.clients) as (_, sup, log, _c):
        await _until(lambda: len(sup.registry) == 2)
        kube.apply(_cr(earlier, httpRoute=route))
        await _until(lambda: _in_conflict_with(kube, later, earlier, "spec.httpRoute"))
        assert sup.registry.keys() == [f"acme/{earlier}"]
        assert _count(log, "stop", f"acme/{later}") == 1
        # The earlier one names its own route again: the later one acts again.
        kube.apply(_cr(earlier, httpRoute={"name": f"web-{earlier}"}))
        await _until(lambda: f"acme/{later}" in sup.registry)
        cond = _status(kube, later).condition("Conflict")
        assert cond is not None
        assert cond.status == "False"
        assert _count(log, "spawn", f"acme/{later}") == 2


async def test_a_conflict_left_in_status_by_a_previous_run_is_cleared_at_start(
    regions: Regions,
) -> None:
    kube = regions.a
    kube.apply(_cr("alone", cnpgPair={"name": "alone-pg"}))
    api = ContinuumApi(regions.clients.for_region(REGION_A))
    kube.apply(_cr("gone", cnpgPair={"name": "alone-pg"}))
    owner, loser = _order(kube, "alone", "gone")
    async with _watching(kube, regions.clients) as (_, sup, _l, _c):
        await _until(lambda: _in_conflict_with(kube, loser, owner, "spec.cnpgPair"))
    # While no controller runs, the owner goes away.
    kube.store.delete(kube.resource_type("dr.openova.io", "v1", "continuums"), "acme", owner)
    async with _watching(kube, regions.clients) as (_, sup, _l, _c):
        await _until(lambda: f"acme/{loser}" in sup.registry)
        await _until(
            lambda: (_status(kube, loser).condition("Conflict") or _never()).status == "False"
        )
    assert decode_status(await api.get_raw("acme", loser)).phase == "Pending"


def _never() -> Any:
    raise AssertionError("the Conflict condition disappeared")
