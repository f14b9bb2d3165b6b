"""A CR and a full status written through the Kubernetes API emulator decode unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import msgspec
import pytest
import yaml

from continuum.messages.crd import decode_continuum
from continuum.messages.dns import LuaRecord
from continuum.messages.status import (
    Condition,
    ContinuumStatus,
    LastHealth,
    LastSwitchover,
    LuaRecordMirror,
    ReplicationLag,
    SwitchoverJournal,
    encode_status_patch,
    set_condition,
)
from continuum_sim.kube.emulator import KubeEmulator

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CRD = ROOT / "chart" / "crds" / "continuum.yaml"
BASE = "/apis/dr.openova.io/v1/namespaces/acme/continuums"


def _full_status() -> ContinuumStatus:
    conditions = set_condition([], Condition(type="Ready", status="True", reason="Reconciled"), T0)
    return ContinuumStatus(
        observed_generation=1,
        phase="SwitchingOver",
        acting_primary="hz-fsn-rtz-prod",
        primary_region="hz-fsn-rtz-prod",
        lease_holder="hz-fsn-rtz-prod",
        lease_expires_at=T0,
        lease_generation=12,
        replication_lag={"hz-hel-rtz-prod": ReplicationLag(seconds=0.5, bytes=42, observed_at=T0)},
        max_replication_lag="0.5s",
        standby_available=True,
        switchover=SwitchoverJournal(
            id="sw-1",
            step="drain-http",
            step_index=3,
            from_="hz-fsn-rtz-prod",
            to="hz-hel-rtz-prod",
            epoch=12,
            started_at=T0,
            completed_steps=["validate-lease", "cordon-old-primary"],
        ),
        last_switchover=LastSwitchover(
            id="sw-0",
            from_="hz-hel-rtz-prod",
            to="hz-fsn-rtz-prod",
            result="Compensated",
            failed_at_step="flip-dns",
            completed_steps=["validate-lease"],
            compensated_steps=["validate-lease"],
            started_at=T0,
            finished_at=T0,
            duration_seconds=1.5,
            error="pdm 503",
        ),
        last_lua_record=LuaRecordMirror(
            records=[
                LuaRecord(
                    hostname="shop.acme.example.io",
                    body="ifurlup(...)",
                    ttl=30,
                    primary_region="hz-fsn-rtz-prod",
                )
            ]
        ),
        last_lua_record_at=T0,
        last_health=LastHealth(checked_at=T0, verdict="unknown", summary="deferred"),
        cr_created_announced="uid-1",
        spec_fingerprint="0123456789abcdef",
        conditions=conditions,
    )


async def test_cr_and_full_status_survive_the_api_server_schema() -> None:
    body = yaml.safe_load((ROOT / "tests" / "fixtures" / "continuum-cnpg-pair.yaml").read_text())
    async with KubeEmulator(crd_paths=[CRD]) as kube, aiohttp.ClientSession(kube.url) as http:
        kube.ensure_namespace("acme")
        async with http.post(BASE, json=body) as resp:
            assert resp.status == 201, await resp.text()
            created = decode_continuum(await resp.read())
        status = _full_status()
        patch = encode_status_patch(status, resource_version=created.metadata.resource_version)
        headers = {"Content-Type": "application/merge-patch+json"}
        async with http.patch(f"{BASE}/shop-dr/status", data=patch, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
        cleared = msgspec.structs.replace(status, lease_holder=None, switchover=None)
        patch = encode_status_patch(cleared, previous=status)
        async with http.patch(f"{BASE}/shop-dr/status", data=patch, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
        async with http.get(f"{BASE}/shop-dr") as resp:
            stored = decode_continuum(await resp.read())
    assert stored.spec == created.spec
    assert stored.status == cleared


async def test_api_server_rejects_an_invalid_status_naming_the_field() -> None:
    body = yaml.safe_load((ROOT / "tests" / "fixtures" / "continuum-minimal.yaml").read_text())
    async with KubeEmulator(crd_paths=[CRD]) as kube, aiohttp.ClientSession(kube.url) as http:
        kube.ensure_namespace("acme")
        async with http.post(BASE, json=body) as resp:
            assert resp.status == 201
        bad = b'{"status": {"phase": "Exploded"}}'
        headers = {"Content-Type": "application/merge-patch+json"}
        async with http.patch(f"{BASE}/minimal/status", data=bad, headers=headers) as resp:
            assert resp.status == 422
            assert "status.phase" in await resp.text()
