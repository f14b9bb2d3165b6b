"""Fixtures of the audit suite: a real ``nats-server -js`` per test, asyncio only (nats-py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from continuum.sim.nats import NatsServer


@pytest.fixture
def anyio_backend() -> str:
    """nats-py runs on asyncio only."""
    return "asyncio"


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    """A fresh JetStream server on 127.0.0.1 and a free port, stopped by PID afterwards."""
    async with NatsServer(tmp_path / "nats") as server:
        yield server
