"""Fixtures of the witness suites: one ``backend`` fixture parametrized over every backend,
each against its real server (nats-server, the Worker contract server, pdns_server, the
Kubernetes emulator), all on one FakeClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from witness_harness import BACKEND_KINDS, LINEARIZABLE_KINDS, BackendEnv, open_backend

from continuum.clock import FakeClock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=BACKEND_KINDS)
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[BackendEnv]:
    async with open_backend(str(request.param), tmp_path=tmp_path, clock=clock) as env:
        yield env


@pytest.fixture(params=LINEARIZABLE_KINDS)
async def linearizable_backend(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[BackendEnv]:
    """Every backend with a real compare-and-set (all but dns-quorum)."""
    async with open_backend(str(request.param), tmp_path=tmp_path, clock=clock) as env:
        yield env


@pytest.fixture
async def dns_quorum_backend(tmp_path: Path, clock: FakeClock) -> AsyncIterator[BackendEnv]:
    async with open_backend("dns-quorum", tmp_path=tmp_path, clock=clock) as env:
        yield env
