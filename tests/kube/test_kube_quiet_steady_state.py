"""Quiet at steady state: a ContinuumActor renewing its lease writes nothing to the Kubernetes
API while nothing changes, measured from the emulator's request log on the fake clock; the
live lease is served from memory."""

from __future__ import annotations

import anyio
import pytest

from continuum.adapters.continuums import ContinuumApi, ContinuumFinalizers, decode_status
from continuum.clock import FakeClock
from continuum.messages.requests import ContinuumSummary, StatusRequest
from continuum.wiring.edges import StatusStoreAdapter
from tests.continuum_actor.harness import KEY, A, Harness, cr_dict, make_cr
from tests.kube.conftest import REGION_A, Regions, autojumping

pytestmark = pytest.mark.anyio

NAMESPACE, NAME = KEY.split("/")
QUIET_WINDOW = 1800.0  # fake seconds: 180 renewals at renewSeconds 10


def _status_writes(regions: Regions) -> int:
    return sum(
        1
        for r in regions.a.requests.writes()
        if r.resource == "continuums" and r.subresource == "status" and r.name == NAME
    )


def _metadata_writes(regions: Regions) -> int:
    return sum(
        1
        for r in regions.a.requests.writes()
        if r.resource == "continuums" and not r.subresource and r.name == NAME
    )


def _stored(regions: Regions) -> dict[str, object]:
    stored = regions.a.store.get("dr.openova.io", "continuums", NAMESPACE, NAME)
    assert stored is not None
    status = stored.get("status") or {}
    assert isinstance(status, dict)
    return status


async def test_an_idle_continuum_writes_at_most_once_per_cr_per_five_minutes(
    regions: Regions,
) -> None:
    regions.a.ensure_namespace(NAMESPACE)
    regions.a.apply(cr_dict())
    clock = FakeClock()
    h = Harness(clock=clock)
    api = ContinuumApi(regions.clients.for_region(REGION_A))
    store, finalizers = StatusStoreAdapter(api), ContinuumFinalizers(api)
    async with (
        autojumping(clock),
        h.actor(make_cr(), region=A, status=store, finalizers=finalizers) as (ref, _),
    ):
        with anyio.fail_after(30):  # real seconds: start-up writes reach the emulator
            while _stored(regions).get("phase") != "Healthy":
                await clock.sleep(1)
        await clock.sleep(60)  # the first observations settle
        writes_before = _status_writes(regions)
        generation_before = (await h.witness().read(KEY)).generation
        await clock.sleep(QUIET_WINDOW)
        writes = _status_writes(regions) - writes_before
        metadata_writes = _metadata_writes(regions)
        live = await ref.ask(StatusRequest())
    renewals = (await h.witness().read(KEY)).generation - generation_before
    assert renewals >= QUIET_WINDOW / 10 - 2  # the lease kept being renewed
    assert writes <= QUIET_WINDOW / 300  # the target: at most one write per 5 minutes
    assert writes == 0  # and with nothing measured (no replication probe): none at all
    assert metadata_writes == 1  # the finalizer, added once at start, never per renewal
    stored = decode_status({"status": _stored(regions)})
    assert stored.lease_holder == A
    assert isinstance(live, ContinuumSummary)
    # The API serves the live lease from memory; the CR keeps the one written at acquisition.
    assert live.leaseHolder == A
    assert live.leaseExpiresAt is not None
    assert stored.lease_expires_at is not None
    assert (live.leaseExpiresAt - stored.lease_expires_at).total_seconds() >= QUIET_WINDOW
    assert live.leaseGeneration > (stored.lease_generation or 0)
