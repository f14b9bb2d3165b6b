"""The pdns_server launcher: starts a real server, ready when its API answers, stopped by PID."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from continuum_sim.pdns import PdnsServer, start_sharing_dns_port

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_server_is_ready_on_entry_and_gone_after_exit(tmp_path: Path) -> None:
    async with PdnsServer(tmp_path, addresses=("127.0.0.1",), api_key="k1") as pdns:
        pid = pdns.pid
        assert pid is not None
        assert pdns.api_url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient() as client:
            response = await client.get(
                f"{pdns.api_url}/api/v1/servers/localhost", headers={"X-API-Key": "k1"}
            )
        assert response.status_code == 200
    assert pdns.pid is None
    assert not _pid_alive(pid)


async def test_independent_servers_share_one_dns_port_on_different_addresses(
    tmp_path: Path,
) -> None:
    first = PdnsServer(tmp_path, addresses=("127.0.0.2",))
    second = PdnsServer(tmp_path, addresses=("127.0.0.3",))
    port = await start_sharing_dns_port([first, second])
    async with first, second:
        assert first.dns_port == second.dns_port == port
        assert first.dir != second.dir
        assert first.pid != second.pid
        assert first.nameservers == [f"127.0.0.2:{port}"]
        assert second.nameservers == [f"127.0.0.3:{port}"]


async def test_stopped_server_restarts_with_the_same_ports(tmp_path: Path) -> None:
    pdns = PdnsServer(tmp_path, addresses=("127.0.0.1",))
    async with pdns:
        ports = (pdns.dns_port, pdns.api_port)
    await pdns.start()
    try:
        assert (pdns.dns_port, pdns.api_port) == ports
    finally:
        await pdns.stop()
