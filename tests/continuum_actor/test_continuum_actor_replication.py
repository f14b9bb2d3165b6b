"""Replication lag observed by the ContinuumActor through the SQL probe, against a real
PostgreSQL primary and streaming standby (asyncpg is asyncio-only: this module pins asyncio).

The CNPG halves are the in-memory fakes; the standby half is named like the standby's
``application_name`` so the probe's row is attributed to region B.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from continuum.actors.continuum.env import Collaborators
from continuum.adapters.pgprobe import PgReplicationProbe
from continuum.clock import FakeClock
from continuum.messages.audit import AuditType
from continuum.messages.replication import ReplicationObservation
from continuum_sim.postgres import PostgresPair
from tests.continuum_actor.harness import A, B, Harness, make_cr

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def pg(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PostgresPair]:
    async with PostgresPair(tmp_path_factory.mktemp("pg"), name="shop-pg") as pair:
        yield pair


def probe_of(
    pg: PostgresPair, clock: FakeClock
) -> Callable[[str], Awaitable[ReplicationObservation]]:
    async def observe(region: str) -> ReplicationObservation:
        assert region == A, "the probe asks the acting primary"
        return await PgReplicationProbe(pg.primary_dsn, clock=clock).observe_primary()

    return observe


def harness(pg: PostgresPair, tmp_path: Path) -> Harness:
    h = Harness(clock=FakeClock())
    h.pair.halves[B].name = pg.application_name
    return h


def env_with_probe(h: Harness, pg: PostgresPair) -> dict[str, object]:
    return {
        "collaborators_for": lambda cr: Collaborators(
            pair=h.pair,
            routes=h.routes,
            dns=h.dns,
            verify_dns=h.dns.verify,
            replication=probe_of(pg, h.clock),
        )
    }


async def test_lag_measured_by_the_sql_probe_lands_in_status_for_the_standby_region(
    pg: PostgresPair, tmp_path: Path
) -> None:
    h = harness(pg, tmp_path)
    async with h.actor(**env_with_probe(h, pg)):
        await anyio.wait_all_tasks_blocked()
        await pg.pause_replay()
        try:
            await pg.write_rows(200)
            await h.clock.advance_settled(10)  # one observation tick
        finally:
            await pg.resume_replay()
    lag = h.status.current.replication_lag
    assert B in lag
    assert lag[B].bytes is not None
    assert lag[B].bytes > 0
    assert h.status.current.max_replication_lag is not None


async def test_lag_breach_needs_n_consecutive_observations_and_auto_failover(
    pg: PostgresPair, tmp_path: Path
) -> None:
    h = harness(pg, tmp_path)
    cr = make_cr(maxLagSeconds=1, autoFailover=True, autoFailoverObservations=3)
    async with h.actor(cr, **env_with_probe(h, pg)):
        await anyio.wait_all_tasks_blocked()
        await pg.pause_replay()
        try:
            await pg.write_rows(50)
            await anyio.sleep(1.2)  # real replication lag needs real time to exist
            await pg.write_rows(50)
            await h.clock.advance_settled(20)  # two breaching observations: not yet
            assert h.count(AuditType.CNPG_LAG_BREACH) == 0
            await pg.write_rows(50)
            await h.clock.advance_settled(10)  # the third: breach → switchover
        finally:
            await pg.resume_replay()
        await h.clock.advance_settled(15)
    assert h.count(AuditType.CNPG_LAG_BREACH) == 1
    last = h.status.current.last_switchover
    assert last is not None
    assert last.reason == "lag-breach"
