"""The PostgresPair launcher: servers run as their own PIDs and vanish with their data."""

from __future__ import annotations

import os
from pathlib import Path

import psutil
import pytest

from continuum_sim.postgres import PostgresPair, find_bindir

pytestmark = pytest.mark.anyio


def test_server_binaries_are_found() -> None:
    assert (find_bindir() / "pg_basebackup").exists()


async def test_pair_streams_under_its_own_pids_and_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    async with PostgresPair(tmp_path, name="shop") as pg:
        assert pg.application_name == "shop-replica"
        assert pg.primary is not None
        assert pg.standby is not None
        pids = [s.process.pid for s in (pg.primary, pg.standby) if s.process is not None]
        datadirs = [pg.primary.datadir, pg.standby.datadir]
        for pid in pids:
            proc = psutil.Process(pid)
            assert Path(proc.exe()).name == "postgres"
            if os.geteuid() == 0:
                assert proc.username() == "postgres"  # initdb/postgres refuse root
        names = await pg.execute("SELECT array_agg(application_name) FROM pg_stat_replication")
        assert names == ["shop-replica"]
        assert (tmp_path / "primary.log").exists()
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    assert not any(d.exists() for d in datadirs)
