"""Fixtures of the HTTP suite: the real API served by uvicorn on 127.0.0.1 (a free port bound
at run time) over a real Supervisor of fake Continuum actors, and an httpx client. asyncio
only (uvicorn)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

import anyio
import httpx
import pytest

from continuum.clock import FakeClock
from continuum.config import Address, Settings
from continuum.http import Readiness, bind_listener, create_app, serve_api
from continuum.http.forwarding import PeerDirectory
from continuum.supervisor import Supervisor
from continuum.supervisor.conflicts import Conflicts
from tests.http.fake_continuum import CannedState, FakeContinuum

TOKEN = "t0k3n-Sup3r-S3cret-value"
OWNER = {"X-Catalyst-Owner-Tier": "true"}
AUTH = {**OWNER, "Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn runs on asyncio only."""
    return "asyncio"


@dataclass
class ApiUnderTest:
    """A running API: ``client`` talks to it over real HTTP."""

    base_url: str
    client: httpx.AsyncClient
    clock: FakeClock
    readiness: Readiness
    supervisor: Supervisor
    states: dict[str, CannedState] = field(default_factory=dict)

    async def add(self, key: str, **canned: object) -> CannedState:
        """Spawn a fake Continuum actor under ``key`` (``ns/name``)."""
        ns, _, name = key.partition("/")
        state = CannedState(namespace=ns, name=name, **canned)  # type: ignore[arg-type]
        self.states[key] = state
        await self.supervisor.spawn(key, partial(FakeContinuum, state))
        return state


@asynccontextmanager
async def running_api(
    *,
    token: str = TOKEN,
    body_limit: int = 65536,
    leader: bool = True,
    crs: Iterable[str] = ("team-a/orders",),
    ask_timeout: float = 5.0,
    conflicts: Conflicts | None = None,
    peers: PeerDirectory | None = None,
) -> AsyncIterator[ApiUnderTest]:
    """Serve ``create_app`` on a free loopback port until the block ends, then stop it."""
    clock = FakeClock()
    readiness = Readiness(is_leader=leader, watch_synced=True)
    settings = Settings(api_token=token, api_body_limit_bytes=body_limit)
    async with Supervisor(clock=clock) as supervisor:
        app = create_app(
            registry=supervisor.registry,
            readiness=readiness,
            settings=settings,
            ask_timeout=ask_timeout,
            conflicts=conflicts,
            peers=peers,
        )
        sock = bind_listener(Address("127.0.0.1", 0))
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        async with anyio.create_task_group() as tg:
            ready = anyio.Event()
            tg.start_soon(partial(serve_api, app, sock, ready=ready, shutdown_timeout=1.0))
            with anyio.fail_after(10):
                await ready.wait()
            async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as client:
                api = ApiUnderTest(
                    base_url=base_url,
                    client=client,
                    clock=clock,
                    readiness=readiness,
                    supervisor=supervisor,
                )
                try:
                    for key in crs:
                        await api.add(key)
                    yield api
                finally:
                    for state in api.states.values():
                        state.release.set()
            tg.cancel_scope.cancel()


@pytest.fixture
async def api() -> AsyncIterator[ApiUnderTest]:
    """The API with a token configured, leader, one CR ``team-a/orders``."""
    async with running_api() as running:
        yield running
