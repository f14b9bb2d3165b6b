"""Fixtures for leader election: an emulated API server and an election driver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from continuum_sim.kube import KubeEmulator
from tests.leader.leader_harness import NAMESPACE, Election


@pytest.fixture
def anyio_backend() -> str:
    """kubernetes-asyncio and aiohttp need asyncio."""
    return "asyncio"


@pytest.fixture
async def kube() -> AsyncIterator[KubeEmulator]:
    async with KubeEmulator(region="a", namespaces=("default", NAMESPACE)) as emulator:
        yield emulator


@pytest.fixture
async def election(kube: KubeEmulator, tmp_path: Path) -> AsyncIterator[Election]:
    async with anyio.create_task_group() as tg:
        driver = Election(kube, tmp_path, tg)
        try:
            yield driver
        finally:
            kube.faults.clear()  # a hung request would keep a release waiting forever
            tg.cancel_scope.cancel()
    await driver.aclose()
