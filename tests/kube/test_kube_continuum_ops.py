"""Continuum CR operations: decoding fixtures read through the API, conflict-safe status
patches that never clobber other writers, the conflict-safe switchover-request clear, events."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
import yaml

from continuum.adapters.continuums import (
    ContinuumApi,
    ContinuumCopiesReader,
    ContinuumFinalizers,
    decode_status,
)
from continuum.clock import FakeClock
from continuum.errors import InvalidSpec
from continuum.messages.crd import FINALIZER, CopyState
from continuum.messages.status import Condition, ContinuumStatus, LastHealth, set_condition
from tests.kube.conftest import FIXTURES, REGION_A, Regions

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
VALID = sorted(FIXTURES.glob("continuum-*.yaml"))


def _load(path: str) -> dict[str, object]:
    body = yaml.safe_load((FIXTURES / path).read_text())
    assert isinstance(body, dict)
    return body


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
async def test_fixture_crs_decode_after_a_trip_through_the_api(regions: Regions, path) -> None:  # type: ignore[no-untyped-def]
    body = yaml.safe_load(path.read_text())
    regions.a.ensure_namespace(body["metadata"]["namespace"])
    regions.a.apply(body)
    api = ContinuumApi(regions.clients.for_region(REGION_A))
    cr = await api.get(body["metadata"]["namespace"], body["metadata"]["name"])
    assert cr.spec.primary_region == body["spec"]["primaryRegion"]
    assert cr.metadata.resource_version
    listed = await api.list(["acme", body["metadata"]["namespace"]])
    assert cr.key in {c.key for c in listed}


async def test_an_invalid_stored_cr_decodes_to_invalid_spec_naming_the_field(
    regions: Regions,
) -> None:
    body = _load("continuum-minimal.yaml")
    body["spec"]["leaseClient"]["config"] = {"ttlSeconds": 30, "renewSeconds": 20}  # type: ignore[index]
    # The CRD's CEL rule refuses it; stored as an older CRD would have let it through.
    regions.a.apply(body, validate=False)
    api = ContinuumApi(regions.clients.for_region(REGION_A))
    with pytest.raises(InvalidSpec) as err:
        await api.get("acme", "minimal")
    assert err.value.field == "spec.leaseClient.config.renewSeconds"
    assert await api.list() == []


async def test_status_patch_after_a_concurrent_write_retries_and_keeps_the_other_fields(
    regions: Regions,
) -> None:
    regions.a.apply(_load("continuum-minimal.yaml"))
    ours = ContinuumApi(regions.clients.for_region(REGION_A))
    other = ContinuumApi(regions.clients.for_region(REGION_A))
    raw = await ours.get_raw("acme", "minimal")
    read_at, previous = raw["metadata"]["resourceVersion"], decode_status(raw)
    # Another writer changes fields we do not own, after our read.
    await other.update_status(
        "acme",
        "minimal",
        lambda s: msgspec.structs.replace(
            s,
            last_health=LastHealth(checked_at=T0, verdict="healthy"),
            conditions=set_condition(
                s.conditions, Condition(type="SpecValid", status="True", reason="Valid"), T0
            ),
        ),
    )
    mine = msgspec.structs.replace(
        previous,
        phase="Healthy",
        lease_holder="region-a",
        conditions=set_condition(
            previous.conditions, Condition(type="Ready", status="True", reason="Reconciled"), T0
        ),
    )
    patches_before = _status_patches(regions)
    stored = await ours.patch_status(
        "acme", "minimal", mine, previous=previous, resource_version=read_at
    )
    assert _status_patches(regions) - patches_before == 2  # 409, then the rebased patch
    assert stored.phase == "Healthy"
    assert stored.lease_holder == "region-a"
    assert stored.last_health is not None
    assert stored.last_health.verdict == "healthy"
    assert {c.type for c in stored.conditions} == {"SpecValid", "Ready"}
    again = decode_status(await ours.get_raw("acme", "minimal"))
    assert again == stored


async def test_status_patch_sends_only_the_diff_and_deletes_with_null(regions: Regions) -> None:
    regions.a.apply(_load("continuum-minimal.yaml"))
    api = ContinuumApi(regions.clients.for_region(REGION_A))
    first = await api.update_status(
        "acme", "minimal", lambda s: msgspec.structs.replace(s, phase="Healthy", lease_holder="x")
    )
    cleared = await api.patch_status(
        "acme", "minimal", msgspec.structs.replace(first, lease_holder=None), previous=first
    )
    assert cleared.lease_holder is None
    assert cleared.phase == "Healthy"


async def test_status_update_without_change_sends_nothing(regions: Regions) -> None:
    regions.a.apply(_load("continuum-minimal.yaml"))
    api = ContinuumApi(regions.clients.for_region(REGION_A))
    before = _status_patches(regions)
    assert await api.update_status("acme", "minimal", lambda s: s) == ContinuumStatus()
    assert _status_patches(regions) == before


async def test_status_update_gives_up_with_conflict_after_its_attempts(regions: Regions) -> None:
    from continuum.errors import Conflict

    regions.a.apply(_load("continuum-minimal.yaml"))
    regions.a.faults.fail(method="PATCH", resource="continuums", status=409, count=None)
    api = ContinuumApi(regions.clients.for_region(REGION_A), attempts=3)
    with pytest.raises(Conflict, match="3 attempts"):
        await api.update_status(
            "acme", "minimal", lambda s: msgspec.structs.replace(s, phase="Failed")
        )


async def test_switchover_request_is_cleared_despite_a_concurrent_spec_edit(
    regions: Regions,
) -> None:
    body = _load("continuum-minimal.yaml")
    body["spec"]["switchover"] = {"requested": True, "requestedBy": "ops"}  # type: ignore[index]
    regions.a.apply(body)
    api = ContinuumApi(regions.clients.for_region(REGION_A))
    stale_rv = (await api.get_raw("acme", "minimal"))["metadata"]["resourceVersion"]
    body["spec"]["rto"] = "90s"  # type: ignore[index]
    regions.a.apply(body)  # a concurrent edit: our resourceVersion is now stale
    assert await api.clear_switchover_request("acme", "minimal", resource_version=stale_rv)
    cr = await api.get("acme", "minimal")
    assert cr.spec.switchover.requested is False
    assert cr.spec.switchover.requested_by == "ops"
    assert cr.spec.rto == "90s"
    assert not await api.clear_switchover_request("acme", "minimal")


async def test_an_event_is_recorded_about_the_cr(regions: Regions) -> None:
    regions.a.apply(_load("continuum-minimal.yaml"))
    api = ContinuumApi(regions.clients.for_region(REGION_A), clock=FakeClock(wall_start=T0))
    cr = await api.get("acme", "minimal")
    await api.record_event(cr, reason="SwitchoverStarted", message="a → b")
    events, _ = regions.a.store.list_objects(
        regions.a.resource_type("", "v1", "events"), namespace="acme"
    )
    assert len(events) == 1
    assert events[0]["involvedObject"]["uid"] == cr.metadata.uid
    assert events[0]["reason"] == "SwitchoverStarted"
    assert events[0]["firstTimestamp"] == "2026-01-01T12:00:00Z"


def _status_patches(regions: Regions) -> int:
    return sum(1 for r in regions.a.requests if r.method == "PATCH" and r.subresource == "status")


def _main_writes(regions: Regions, name: str) -> int:
    """Writes to the CR itself (not /status), as the emulator answered them."""
    return sum(
        1
        for r in regions.a.requests.writes()
        if r.resource == "continuums" and not r.subresource and r.name == name
    )


async def test_the_finalizer_is_added_once_beside_the_others_and_decoded(
    regions: Regions,
) -> None:
    body = _load("continuum-minimal.yaml")
    body["metadata"]["finalizers"] = ["other.io/keep"]  # type: ignore[index]
    regions.a.apply(body)
    api = ContinuumApi(regions.clients.for_region(REGION_A))
    assert await api.set_finalizer("acme", "minimal", FINALIZER, present=True)
    assert not await api.set_finalizer("acme", "minimal", FINALIZER, present=True)
    assert _main_writes(regions, "minimal") == 1  # the second call only read
    cr = await api.get("acme", "minimal")
    assert cr.metadata.finalizers == ("other.io/keep", FINALIZER)
    assert cr.finalized_by_us
    assert not cr.deleting
    assert cr.metadata.generation == 1  # metadata is not spec


async def test_a_conflicting_finalizer_write_rereads_and_keeps_the_concurrent_one(
    regions: Regions,
) -> None:
    """Another controller adds its finalizer between our read and our write: our write
    meets a real 409 (stale resourceVersion), re-reads, and lands beside it."""
    regions.a.apply(_load("continuum-minimal.yaml"))

    class RacedApi(ContinuumApi):
        raced = False

        async def get_raw(self, namespace: str, name: str) -> dict[str, Any]:
            obj = await super().get_raw(namespace, name)
            if not self.raced:
                self.raced = True
                concurrent = copy.deepcopy(obj)
                concurrent["metadata"]["finalizers"] = ["other.io/added-meanwhile"]
                regions.a.apply(concurrent)
            return obj

    api = RacedApi(regions.clients.for_region(REGION_A))
    assert await api.set_finalizer("acme", "minimal", FINALIZER, present=True)
    statuses = [r.status for r in regions.a.requests.writes() if r.resource == "continuums"]
    assert statuses == [409, 200]
    cr = await api.get("acme", "minimal")
    assert cr.metadata.finalizers == ("other.io/added-meanwhile", FINALIZER)


async def test_a_deletion_waits_for_the_finalizer_and_its_removal_deletes_the_cr(
    regions: Regions,
) -> None:
    from continuum.errors import Invalid, NotFound

    regions.a.apply(_load("continuum-minimal.yaml"))
    api = ContinuumApi(regions.clients.for_region(REGION_A))
    finalizers = ContinuumFinalizers(api)
    await finalizers.add_finalizer("acme/minimal")
    await regions.clients.for_region(REGION_A).custom.delete_namespaced_custom_object(
        "dr.openova.io", "v1", "acme", "continuums", "minimal"
    )
    held = await api.get("acme", "minimal")
    assert held.deleting
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.generation == 2  # the API server moves it on when deletion begins
    with pytest.raises(Invalid):  # no new finalizer on a CR being deleted
        await api.set_finalizer("acme", "minimal", "other.io/late", present=True)
    await finalizers.remove_finalizer("acme/minimal")
    with pytest.raises(NotFound):
        await api.get_raw("acme", "minimal")
    await finalizers.remove_finalizer("acme/minimal")  # gone: not an error
    with pytest.raises(NotFound):
        await finalizers.add_finalizer("acme/minimal")


async def test_a_copy_is_read_in_any_region_with_its_deletion_and_journal(
    regions: Regions,
) -> None:
    body = _load("continuum-minimal.yaml")
    body["metadata"]["finalizers"] = [FINALIZER]  # type: ignore[index]
    regions.a.apply(body)
    apis = {
        region: ContinuumApi(regions.clients.for_region(region))
        for region in regions.clients.regions
    }
    reader = ContinuumCopiesReader(apis)
    other = next(r for r in regions.clients.regions if r != REGION_A)
    assert await reader.read_copy(other, "acme/minimal") == CopyState(exists=False)
    assert await reader.read_copy(REGION_A, "acme/minimal") == CopyState(exists=True)
    journal = {
        "id": "run-1",
        "step": "drain-http",
        "stepIndex": 3,
        "from": REGION_A,
        "to": other,
        "epoch": 1,
        "startedAt": "2026-01-01T12:00:00Z",
    }
    await apis[REGION_A].update_status(
        "acme",
        "minimal",
        lambda s: msgspec.convert({**msgspec.to_builtins(s), "switchover": journal}, type(s)),
    )
    await regions.clients.for_region(REGION_A).custom.delete_namespaced_custom_object(
        "dr.openova.io", "v1", "acme", "continuums", "minimal"
    )
    assert await reader.read_copy(REGION_A, "acme/minimal") == CopyState(
        exists=True, deleting=True, journal_to=other
    )
