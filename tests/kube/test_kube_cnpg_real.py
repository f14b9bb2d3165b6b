"""The CNPG operator emulation with real PostgreSQL behind the Clusters, driven through the
adapter: the demotion token carries the real timeline and shutdown-checkpoint LSN, the
promotion starts a new timeline read back from the instance into ``status.timelineID``, a
write committed before the demotion is on the new primary, the fenced instance refuses
connections and the unfenced one takes writes again."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import asyncpg
import pytest

from continuum.adapters.cnpg import CnpgPair
from continuum.clock import SystemClock
from continuum.messages.switchover import ObjectRef
from continuum_sim.cnpg import CnpgOperator
from continuum_sim.pgregions import PgRegions
from tests.kube.conftest import REGION_A, REGION_B, Regions
from tests.kube.test_kube_cnpg_pair import NAMES, _cluster

pytestmark = pytest.mark.anyio


async def test_real_handshake_fence_and_unfence(regions: Regions, tmp_path: Path) -> None:
    clock = SystemClock()
    for region in (REGION_A, REGION_B):
        regions.emulator(region).apply(_cluster(region))
    async with (
        PgRegions(tmp_path, [REGION_A, REGION_B], clock=clock) as db,
        CnpgOperator(
            regions.clients, clock=clock, demotion_delay=0, promotion_delay=0, databases=db
        ) as op,
    ):
        await op.wait_synced()
        pair = CnpgPair(
            regions.clients,
            pair=ObjectRef(name="shop-pg", namespace="acme"),
            regions=[REGION_A, REGION_B],
            clock=clock,
            poll_interval=0.05,
        )
        await pair.wait_ready_as_primary(REGION_A, 30)
        await db.instance(REGION_A).fetchval("INSERT INTO continuum_writes (seq) VALUES (1)")

        token = await pair.demote(REGION_A, new_primary=REGION_B)
        demoted = db.transitions[-1]
        assert (demoted.region, demoted.kind, demoted.timeline) == (REGION_A, "demoted", 1)
        assert json.loads(base64.b64decode(token)) == {
            "cluster": NAMES[REGION_A],
            "timeline": 1,
            "lsn": demoted.lsn,
        }
        assert (await db.state(REGION_A)).in_recovery

        await pair.promote(REGION_B, token=token)
        await pair.wait_ready_as_primary(REGION_B, 30)
        b = await db.state(REGION_B)
        assert (b.in_recovery, b.timeline) == (False, 2)
        status = regions.b.store.get("postgresql.cnpg.io", "clusters", "acme", NAMES[REGION_B])
        assert status is not None
        assert status["status"]["timelineID"] == 2
        assert await db.instance(REGION_B).fetchval("SELECT count(*) FROM continuum_writes") == 1

        await pair.fence(REGION_B)
        with pytest.raises((OSError, asyncpg.PostgresError)):
            await asyncpg.connect(db.dsns()[REGION_B], timeout=2)
        await pair.unfence(REGION_B)
        await pair.wait_ready_as_primary(REGION_B, 30)
        conn = await asyncpg.connect(db.dsns()[REGION_B], timeout=5)
        try:
            await conn.execute("INSERT INTO continuum_writes (seq) VALUES (2)")
        finally:
            await conn.close()
    assert [t.kind for t in db.transitions] == ["demoted", "promoted", "fenced", "unfenced"]
    assert db.rewinds == []
