"""The end-to-end setup: the embedded stack (two emulated regions with CNPG behaviour, real
nats-server, real pdns_server) and one real controller instance per region, in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from continuum_sim.stack import SimStack, StackSpec, running_controllers


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Controllers:
    """The running controller instances, by region, with an API client for each."""

    def __init__(self, stack: SimStack) -> None:
        self.stack = stack
        self.ports: dict[str, int] = {}
        self.scopes: dict[str, anyio.CancelScope] = {}

    def client(self, region: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.ports[region]}",
            headers={
                "X-Catalyst-Owner-Tier": "true",
                "Authorization": f"Bearer {self.stack.api_token}",
            },
            timeout=30,
        )

    async def api(self, region: str, method: str, path: str, **kw: Any) -> httpx.Response:
        async with self.client(region) as client:
            return await client.request(method, path, **kw)

    def stop(self, region: str) -> None:
        self.scopes[region].cancel()


@asynccontextmanager
async def controllers(
    stack: SimStack, regions: tuple[str, ...] | None = None, *, health_delay: float = 0.0
) -> AsyncIterator[Controllers]:
    running = Controllers(stack)
    # Port 0: each controller binds a free port itself and reports it (no pick-then-bind race).
    wanted: dict[str, int | None] = {region: 0 for region in regions or stack.spec.regions}
    async with running_controllers(
        stack, wanted, health_delay=health_delay, ready_timeout=30
    ) as started:
        running.scopes = started.scopes
        running.ports = {region: started.api_port(region) for region in wanted}
        yield running


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[SimStack]:
    async with SimStack(tmp_path, spec=StackSpec(drain_seconds=0)) as s:
        yield s


@pytest.fixture
async def real_pg_stack(tmp_path: Path) -> AsyncIterator[SimStack]:
    """The stack with a real PostgreSQL instance behind each region's Cluster."""
    spec = StackSpec(drain_seconds=0, real_postgres=True, cnpg_delay=0.0)
    async with SimStack(tmp_path, spec=spec) as s:
        yield s


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], *, timeout: float = 30, what: str = ""
) -> None:
    """Poll a real server (not a timer) until ``check`` holds. Raises AssertionError naming
    ``what`` after ``timeout`` real seconds."""
    with anyio.move_on_after(timeout):
        while True:
            result = check()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await anyio.sleep(0.05)
    raise AssertionError(f"never happened within {timeout}s: {what}")
