"""HTTPRoute weights by backend name (drain only the old region, refuse when nothing
matches, restore by name)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from continuum.adapters.httproute import BEFORE_DRAIN_ANNOTATION, HttpRoutes
from continuum.errors import KubeError, NoBackendForRegion, NotFound
from continuum.messages.switchover import ObjectRef
from tests.kube.conftest import REGION_A, Regions

pytestmark = pytest.mark.anyio

ROUTE = ObjectRef(name="shop", namespace="acme")
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _route(backends: list[list[tuple[str, int | None]]]) -> dict[str, Any]:
    rules = []
    for rule in backends:
        refs = []
        for name, weight in rule:
            ref: dict[str, Any] = {"name": name, "port": 80}
            if weight is not None:
                ref["weight"] = weight
            refs.append(ref)
        rules.append({"backendRefs": refs})
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "shop", "namespace": "acme"},
        "spec": {"hostnames": ["shop.acme.example.io"], "rules": rules},
    }


def _stored_weights(regions: Regions) -> list[tuple[str, int]]:
    obj = regions.a.store.get("gateway.networking.k8s.io", "httproutes", "acme", "shop")
    assert obj is not None
    return [(r["name"], r["weight"]) for rule in obj["spec"]["rules"] for r in rule["backendRefs"]]


def _route_writes(regions: Regions) -> int:
    return sum(1 for r in regions.a.requests if r.is_write and r.resource == "httproutes")


async def test_drain_zeroes_only_the_old_regions_backends(regions: Regions) -> None:
    regions.a.apply(_route([[("shop-fsn", 3), ("shop-hel", 7)], [("shop-fsn", None)]]))
    routes = HttpRoutes(regions.clients.for_region(REGION_A))
    prior = await routes.drain(ROUTE, "fsn")
    assert prior == {"shop-fsn": 3}
    assert _stored_weights(regions) == [("shop-fsn", 0), ("shop-hel", 7), ("shop-fsn", 0)]
    assert await routes.drain(ROUTE, "fsn") == {}  # idempotent, nothing written again


async def test_drain_with_no_backend_of_the_region_refuses_and_writes_nothing(
    regions: Regions,
) -> None:
    regions.a.apply(_route([[("shop-fsn", 3), ("shop-hel", 7)]]))
    routes = HttpRoutes(regions.clients.for_region(REGION_A))
    before = _route_writes(regions)
    with pytest.raises(NoBackendForRegion, match="nbg"):
        await routes.drain(ROUTE, "nbg")
    assert _route_writes(regions) == before
    assert _stored_weights(regions) == [("shop-fsn", 3), ("shop-hel", 7)]


async def test_restore_is_by_name_with_unmatched_backends_in_front(regions: Regions) -> None:
    regions.a.apply(_route([[("shop-canary", 5), ("shop-fsn", 3), ("shop-hel", 0)]]))
    routes = HttpRoutes(regions.clients.for_region(REGION_A))
    prior = await routes.drain(ROUTE, "fsn")
    shifted = await routes.shift_to(ROUTE, "hel")
    assert shifted == {"shop-hel": 0}
    assert _stored_weights(regions) == [("shop-canary", 5), ("shop-fsn", 0), ("shop-hel", 1)]
    await routes.restore(ROUTE, {**prior, **shifted, "shop-gone": 9})
    assert _stored_weights(regions) == [("shop-canary", 5), ("shop-fsn", 3), ("shop-hel", 0)]
    assert await routes.read_weights(ROUTE) == {"shop-canary": 5, "shop-fsn": 3, "shop-hel": 0}


async def test_weight_write_after_a_concurrent_edit_is_recomputed(regions: Regions) -> None:
    regions.a.apply(_route([[("shop-fsn", 3), ("shop-hel", 7)]]))
    regions.a.faults.fail(method="PATCH", resource="httproutes", status=409, count=1)
    routes = HttpRoutes(regions.clients.for_region(REGION_A))
    assert await routes.drain(ROUTE, "fsn") == {"shop-fsn": 3}
    assert _stored_weights(regions) == [("shop-fsn", 0), ("shop-hel", 7)]


async def test_a_missing_route_is_not_found(regions: Regions) -> None:
    with pytest.raises(NotFound, match="httproute acme/shop"):
        await HttpRoutes(regions.clients.for_region(REGION_A)).read_weights(ROUTE)


async def test_write_probe_is_a_dry_run_and_reports_a_refused_write(regions: Regions) -> None:
    regions.a.apply(_route([[("shop-fsn", 100), ("shop-hel", 0)]]))
    routes = HttpRoutes(regions.clients.for_region(REGION_A))
    await routes.probe_write(ROUTE)
    assert _stored_weights(regions) == [("shop-fsn", 100), ("shop-hel", 0)]
    # The request log tells a dry run (validated, authorised, never stored) from a write.
    probes = [r for r in regions.a.requests if r.resource == "httproutes" and r.dry_run]
    assert [r.method for r in probes] == ["PATCH"]
    assert _route_writes(regions) == 0
    stored = regions.a.store.get("gateway.networking.k8s.io", "httproutes", "acme", "shop")
    assert stored is not None
    version = stored["metadata"]["resourceVersion"]
    regions.a.faults.fail(method="PATCH", resource="httproutes", status=403, count=None)
    with pytest.raises(KubeError, match="HTTP 403"):
        await routes.probe_write(ROUTE)
    after = regions.a.store.get("gateway.networking.k8s.io", "httproutes", "acme", "shop")
    assert after is not None
    assert after["metadata"]["resourceVersion"] == version


async def test_a_fault_for_real_writes_only_lets_the_dry_run_probe_through(
    regions: Regions,
) -> None:
    regions.a.apply(_route([[("shop-fsn", 100), ("shop-hel", 0)]]))
    routes = HttpRoutes(regions.clients.for_region(REGION_A))
    regions.a.faults.fail(method="PATCH", resource="httproutes", status=500, dry_run=False)
    await routes.probe_write(ROUTE)
    with pytest.raises(KubeError, match="HTTP 500"):
        await routes.drain(ROUTE, "fsn")
    assert _stored_weights(regions) == [("shop-fsn", 100), ("shop-hel", 0)]


def _annotations(regions: Regions) -> dict[str, str]:
    obj = regions.a.store.get("gateway.networking.k8s.io", "httproutes", "acme", "shop")
    assert obj is not None
    return dict((obj.get("metadata") or {}).get("annotations") or {})


async def test_a_drain_leaving_nothing_served_records_the_weights_it_found(
    regions: Regions,
) -> None:
    """In the same write: the emulator stores one write, the weights drained and the record
    (the annotation) together; ``read_state`` gives both back."""
    regions.a.apply(_route([[("shop-fsn", 100), ("shop-hel", 0)]]))
    routes = HttpRoutes(regions.clients.for_region(REGION_A))
    assert (await routes.read_state(ROUTE)).before_drain is None
    before = _route_writes(regions)
    await routes.drain(ROUTE, "fsn")
    assert _route_writes(regions) == before + 1
    assert _annotations(regions) == {BEFORE_DRAIN_ANNOTATION: '{"shop-fsn":100,"shop-hel":0}'}
    state = await routes.read_state(ROUTE)
    assert state.weights == {"shop-fsn": 0, "shop-hel": 0}
    assert state.before_drain == {"shop-fsn": 100, "shop-hel": 0}
    # The switchover's shift_to and a drain that leaves a backend serving keep the record.
    await routes.shift_to(ROUTE, "hel")
    await routes.restore(ROUTE, {"shop-fsn": 100})
    await routes.drain(ROUTE, "hel")
    assert (await routes.read_state(ROUTE)).before_drain == {"shop-fsn": 100, "shop-hel": 0}


async def test_a_drain_leaving_a_backend_served_records_nothing(regions: Regions) -> None:
    regions.a.apply(_route([[("shop-fsn", 3), ("shop-hel", 7)]]))
    routes = HttpRoutes(regions.clients.for_region(REGION_A))
    await routes.drain(ROUTE, "fsn")
    assert BEFORE_DRAIN_ANNOTATION not in _annotations(regions)
    assert (await routes.read_state(ROUTE)).before_drain is None


async def test_a_malformed_record_reads_as_none(regions: Regions) -> None:
    body = _route([[("shop-fsn", 0), ("shop-hel", 0)]])
    for bad in ("not json", '{"shop-fsn": -1}', '["shop-fsn"]'):
        body["metadata"]["annotations"] = {BEFORE_DRAIN_ANNOTATION: bad}
        regions.a.apply(body)
        state = await HttpRoutes(regions.clients.for_region(REGION_A)).read_state(ROUTE)
        assert state.before_drain is None, bad
