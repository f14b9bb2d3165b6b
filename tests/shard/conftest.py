"""Fixtures for sharding: an emulated API server and a cluster of replicas on one fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from continuum_sim.kube import KubeEmulator
from tests.shard.shard_harness import NAMESPACE, Cluster


@pytest.fixture
def anyio_backend() -> str:
    """kubernetes-asyncio and aiohttp need asyncio."""
    return "asyncio"


@pytest.fixture
async def kube() -> AsyncIterator[KubeEmulator]:
    async with KubeEmulator(region="a", namespaces=("default", NAMESPACE)) as emulator:
        yield emulator


@pytest.fixture(params=[False, True], ids=["on-the-loop", "on-a-lane"])
async def cluster(
    kube: KubeEmulator, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Cluster]:
    """Every membership test runs twice: requests on the test's loop, and each replica's on
    a request lane of its own (the controller's way)."""
    async with anyio.create_task_group() as tg:
        driver = Cluster(kube, tmp_path, tg, lanes=request.param)
        try:
            yield driver
        finally:
            kube.faults.clear()
            tg.cancel_scope.cancel()
    await driver.aclose()
