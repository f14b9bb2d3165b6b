"""Fixtures of the DNS suite: a real ``pdns_server`` on loopback per test.

aiodns and aiohttp are asyncio-only, so this suite pins the asyncio backend (the launcher's
own test module re-parametrizes it to run on trio too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from continuum_sim.pdns import PdnsServer

VANTAGES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def pdns(tmp_path: Path) -> AsyncIterator[PdnsServer]:
    """One pdns_server listening on 127.0.0.1, .2 and .3 (three vantages, same data)."""
    async with PdnsServer(tmp_path, addresses=VANTAGES, api_key="test-key") as server:
        yield server
