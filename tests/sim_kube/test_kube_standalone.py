"""The standalone server behind ``continuum sim kube``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
import yaml

from continuum_sim.kube.main import serve_async
from tests.sim_kube.kube_helpers import TEST_CRD

pytestmark = pytest.mark.anyio


async def test_serve_prints_url_writes_kubeconfig_and_stops_on_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stop = asyncio.Event()
    task = asyncio.ensure_future(
        serve_async("127.0.0.1", 0, [TEST_CRD], kubeconfig=tmp_path / "kc", stop=stop)
    )
    deadline = asyncio.get_running_loop().time() + 5
    while not (tmp_path / "kc").exists():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    server = yaml.safe_load((tmp_path / "kc").read_text())["clusters"][0]["cluster"]["server"]
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{server}/apis/dr.openova.io/v1") as resp,
    ):
        assert resp.status == 200
    stop.set()
    await asyncio.wait_for(task, 5)
    out = capsys.readouterr().out
    assert server in out
    assert str(tmp_path / "kc") in out
