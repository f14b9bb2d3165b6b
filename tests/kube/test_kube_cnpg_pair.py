"""The CNPG pair across two emulated regions, driven through the adapter while the CNPG
operator emulation plays the operator: the distributed-topology handshake both ways,
a wrong token refused, the fence, the replica flip."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from continuum.adapters.cnpg import FENCE_ANNOTATION, PAIR_LABEL, CnpgPair
from continuum.clock import FakeClock
from continuum.errors import Invalid, NotFound
from continuum.messages.switchover import ObjectRef
from continuum_sim.cnpg import CnpgOperator
from tests.kube.conftest import REGION_A, REGION_B, Regions, autojumping

pytestmark = pytest.mark.anyio

NAMES = {REGION_A: "shop-pg-fsn", REGION_B: "shop-pg-hel"}


def _cluster(region: str, *, distributed: bool = True) -> dict[str, Any]:
    me, other = NAMES[region], NAMES[REGION_B if region == REGION_A else REGION_A]
    replica: dict[str, Any]
    if distributed:
        replica = {"primary": NAMES[REGION_A], "self": me, "source": other}
    else:
        replica = {"enabled": region != REGION_A, "source": other}
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {
            "name": me,
            "namespace": "acme",
            # Static install-time role labels that must never be trusted.
            "labels": {PAIR_LABEL: "shop-pg", "openova.io/cnpg-role": "primary"},
        },
        "spec": {"instances": 2, "replica": replica},
    }


@asynccontextmanager
async def _pair(
    regions: Regions, *, distributed: bool = True
) -> AsyncIterator[tuple[CnpgPair, CnpgOperator, FakeClock]]:
    clock = FakeClock()
    for region in (REGION_A, REGION_B):
        regions.emulator(region).apply(_cluster(region, distributed=distributed))
    async with (
        autojumping(clock),
        CnpgOperator(regions.clients, clock=clock, demotion_delay=2, promotion_delay=3) as op,
    ):
        await op.wait_synced()
        pair = CnpgPair(
            regions.clients,
            pair=ObjectRef(name="shop-pg", namespace="acme"),
            regions=[REGION_A, REGION_B],
            clock=clock,
            poll_interval=0.5,
        )
        await pair.wait_ready_as_primary(REGION_A, 300)
        yield pair, op, clock


async def _switch(pair: CnpgPair, frm: str, to: str) -> str:
    token = await pair.demote(frm, new_primary=to)
    await pair.promote(to, token=token)
    await pair.wait_ready_as_primary(to, 300)
    return token


async def test_handshake_moves_the_primary_a_to_b_and_back(regions: Regions) -> None:
    async with _pair(regions) as (pair, op, clock):
        start = clock.monotonic()
        state = await pair.read_pair()
        assert state.acting_primaries() == [REGION_A]
        first = await _switch(pair, REGION_A, REGION_B)
        assert clock.monotonic() - start >= 5  # the operator's delays ran on the fake clock
        state = await pair.read_pair()
        assert state.acting_primaries() == [REGION_B]
        assert op.role(REGION_A, "acme", NAMES[REGION_A]) == "replica"
        assert op.role(REGION_B, "acme", NAMES[REGION_B]) == "primary"
        half_b = state.half(REGION_B)
        assert half_b is not None
        assert half_b.timeline_id == 2
        # Failback through the same code path: roles come from the live spec, not labels.
        second = await _switch(pair, REGION_B, REGION_A)
        assert second != first
        state = await pair.read_pair()
        assert state.acting_primaries() == [REGION_A]
        assert op.role(REGION_A, "acme", NAMES[REGION_A]) == "primary"
        half_a = state.half(REGION_A)
        assert half_a is not None
        assert half_a.demotion_token == ""


async def test_demote_again_returns_the_same_token_without_writing(regions: Regions) -> None:
    async with _pair(regions) as (pair, _, _):
        token = await pair.demote(REGION_A, new_primary=REGION_B)
        writes = sum(1 for r in regions.a.requests if r.method == "PATCH" and not r.subresource)
        assert await pair.demote(REGION_A, new_primary=REGION_B) == token
        assert writes == sum(
            1 for r in regions.a.requests if r.method == "PATCH" and not r.subresource
        )


async def test_a_wrong_promotion_token_is_refused_and_nothing_is_promoted(
    regions: Regions,
) -> None:
    async with _pair(regions) as (pair, op, _):
        await pair.demote(REGION_A, new_primary=REGION_B)
        await pair.promote(REGION_B, token="bm90LWEtdG9rZW4=")
        with pytest.raises(Invalid, match="promotion refused") as err:
            await pair.wait_ready_as_primary(REGION_B, 300)
        assert err.value.region == REGION_B
        assert op.role(REGION_B, "acme", NAMES[REGION_B]) == "replica"
        half = (await pair.read_pair()).half(REGION_B)
        assert half is not None
        assert not half.ready


async def test_wait_ready_as_primary_times_out_on_the_clock(regions: Regions) -> None:
    async with _pair(regions) as (pair, _, clock):
        start = clock.monotonic()
        with pytest.raises(TimeoutError, match=REGION_B):
            await pair.wait_ready_as_primary(REGION_B, 7)
        assert clock.monotonic() - start == pytest.approx(7, abs=0.6)


async def test_fence_stops_every_instance_and_unfence_restores_it(regions: Regions) -> None:
    async with _pair(regions, distributed=False) as (pair, _, _):
        await pair.fence(REGION_A)
        half = (await pair.read_pair()).half(REGION_A)
        assert half is not None
        assert half.fenced
        assert not half.ready
        stored = regions.a.store.get("postgresql.cnpg.io", "clusters", "acme", NAMES[REGION_A])
        assert stored is not None
        assert stored["metadata"]["annotations"][FENCE_ANNOTATION] == '["*"]'
        assert stored["status"]["readyInstances"] == 0
        await pair.unfence(REGION_A)
        await pair.wait_ready_as_primary(REGION_A, 300)
        assert not (await pair.read_pair()).half(REGION_A).fenced  # type: ignore[union-attr]


async def test_replica_flip_moves_the_primary_by_spec_replica_enabled(regions: Regions) -> None:
    async with _pair(regions, distributed=False) as (pair, op, _):
        await pair.fence(REGION_A)
        await pair.set_replica_enabled(REGION_A, True)
        await pair.set_replica_enabled(REGION_B, False)
        await pair.wait_ready_as_primary(REGION_B, 300)
        await pair.unfence(REGION_A)
        assert (await pair.read_pair()).acting_primaries() == [REGION_B]
        assert op.role(REGION_A, "acme", NAMES[REGION_A]) == "replica"


async def test_an_unreachable_region_is_reported_in_its_half_not_raised(
    regions: Regions,
) -> None:
    async with _pair(regions) as (pair, op, _):
        regions.b.faults.fail(resource="clusters", status=503, count=None)
        state = await pair.read_pair()
        half_b = state.half(REGION_B)
        assert half_b is not None
        assert REGION_B in half_b.error
        assert not half_b.missing  # unreachable is not "does not exist"
        assert state.acting_primaries() == [REGION_A]
        regions.b.faults.clear()
        await op.set_unreachable(REGION_A)
        half_a = (await pair.read_pair()).half(REGION_A)
        assert half_a is not None
        assert not half_a.ready
        # CNPG's failover path: promote the survivor without a token.
        await pair.promote(REGION_B, token="")
        await pair.wait_ready_as_primary(REGION_B, 300)


async def test_a_missing_half_is_not_found_naming_the_region(regions: Regions) -> None:
    regions.a.apply(_cluster(REGION_A))
    pair = CnpgPair(
        regions.clients,
        pair=ObjectRef(name="shop-pg", namespace="acme"),
        regions=[REGION_A, REGION_B],
        clock=FakeClock(),
    )
    with pytest.raises(NotFound, match=REGION_B):
        await pair.locate(REGION_B)
    assert await pair.locate(REGION_A) == NAMES[REGION_A]
    half_b = (await pair.read_pair()).half(REGION_B)
    assert half_b is not None
    assert (half_b.missing, REGION_B in half_b.error) == (True, True)


async def test_a_half_deleted_after_it_was_seen_reads_as_missing(regions: Regions) -> None:
    async with _pair(regions) as (pair, _, _):
        half_b = (await pair.read_pair()).half(REGION_B)
        assert half_b is not None
        assert (half_b.missing, half_b.error, half_b.ready_instances) == (False, "", 2)
        assert regions.b.store.get("postgresql.cnpg.io", "clusters", "acme", NAMES[REGION_B])
        client = regions.clients.for_region(REGION_B)
        await client.call(
            client.custom.delete_namespaced_custom_object,
            "postgresql.cnpg.io",
            "v1",
            "acme",
            "clusters",
            NAMES[REGION_B],
            what="delete the standby Cluster",
        )
        half_b = (await pair.read_pair()).half(REGION_B)
        assert half_b is not None
        assert half_b.missing
        assert not half_b.ready


async def test_write_probe_names_the_region_whose_api_refuses_writes_and_writes_nothing(
    regions: Regions,
) -> None:
    async with _pair(regions) as (pair, _, _):
        assert await pair.probe_writes() == {}
        # RBAC of region B refuses patches of Clusters (a dry-run write is authorised too).
        regions.b.faults.fail(method="PATCH", resource="clusters", status=403, count=None)

        def versions() -> list[str]:
            found = []
            for region in (REGION_A, REGION_B):
                obj = regions.emulator(region).store.get(
                    "postgresql.cnpg.io", "clusters", "acme", NAMES[region]
                )
                assert obj is not None
                found.append(obj["metadata"]["resourceVersion"])
            return found

        before = versions()
        refused = await pair.probe_writes()
        assert list(refused) == [REGION_B]
        assert "HTTP 403" in str(refused[REGION_B])
        assert getattr(refused[REGION_B], "status", None) == 403
        assert versions() == before  # the dry-run patch of region A stored nothing
