"""Fixtures of the Kubernetes adapter suite: two emulated regions over real HTTP.

kubernetes-asyncio is asyncio-only, so the suite pins the ``asyncio`` backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from continuum.adapters.kube import KubeClients
from continuum.clock import FakeClock
from continuum_sim.kube import KubeEmulator, bundled_crd_paths, write_kubeconfig

REGION_A = "hz-fsn-rtz-prod"
REGION_B = "hz-hel-rtz-prod"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Regions:
    """Two emulated regions, a kubeconfig with one context per region, and the clients."""

    a: KubeEmulator
    b: KubeEmulator
    clients: KubeClients
    kubeconfig: Path

    def emulator(self, region: str) -> KubeEmulator:
        return self.a if region == REGION_A else self.b


@pytest.fixture
async def regions(tmp_path: Path) -> AsyncIterator[Regions]:
    crds = bundled_crd_paths()
    async with (
        KubeEmulator(region=REGION_A, crd_paths=crds) as a,
        KubeEmulator(region=REGION_B, crd_paths=crds) as b,
    ):
        for kube in (a, b):
            kube.ensure_namespace("acme")
        path = write_kubeconfig(tmp_path / "kubeconfig", {"ctx-a": a, "ctx-b": b})
        clients = await KubeClients.from_kubeconfig(
            str(path), {REGION_A: "ctx-a", REGION_B: "ctx-b"}, request_timeout=5.0
        )
        async with clients:
            yield Regions(a=a, b=b, clients=clients, kubeconfig=path)


@asynccontextmanager
async def autojumping(clock: FakeClock) -> AsyncIterator[FakeClock]:
    """Run ``clock.autojump`` for the block: fake time jumps to the next deadline whenever
    every task has been blocked a few real milliseconds (real HTTP keeps flowing)."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: clock.autojump(threshold=0.003))
        try:
            yield clock
        finally:
            tg.cancel_scope.cancel()
