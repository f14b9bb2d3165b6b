"""Fixtures for the Kubernetes API emulator's suite: an emulator on a free port with the
bundled CRDs and a test copy of the Continuum CRD, and a kubernetes-asyncio client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kubernetes_asyncio import client, config

from continuum_sim.kube import KubeEmulator, bundled_crd_paths
from tests.sim_kube.kube_helpers import TEST_CRD


@pytest.fixture
def anyio_backend() -> str:
    """kubernetes-asyncio and aiohttp need asyncio."""
    return "asyncio"


@pytest.fixture
async def kube() -> AsyncIterator[KubeEmulator]:
    async with KubeEmulator(region="a", crd_paths=[*bundled_crd_paths(), TEST_CRD]) as emulator:
        yield emulator


@pytest.fixture
async def api(kube: KubeEmulator, tmp_path: Path) -> AsyncIterator[client.ApiClient]:
    path = kube.write_kubeconfig(tmp_path / "kubeconfig")
    api_client = await config.new_client_from_config(config_file=str(path), context="a")
    async with api_client:
        yield api_client


@pytest.fixture
def crs(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)
