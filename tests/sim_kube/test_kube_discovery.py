"""Discovery: what kubectl and client libraries read before anything else."""

from __future__ import annotations

import aiohttp
import pytest
from kubernetes_asyncio import client

from continuum_sim.kube import KubeEmulator

pytestmark = pytest.mark.anyio


async def _get(kube: KubeEmulator, path: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.get(kube.url + path) as resp:
        return resp.status, await resp.json()


async def test_version_and_core_api_are_served(kube: KubeEmulator) -> None:
    status, version = await _get(kube, "/version")
    assert status == 200
    assert version["major"] == "1"
    assert str(version["gitVersion"]).startswith("v1.")
    status, core = await _get(kube, "/api")
    assert core["kind"] == "APIVersions"
    assert core["versions"] == ["v1"]


async def test_core_v1_lists_namespaces_secrets_configmaps_events(kube: KubeEmulator) -> None:
    _, doc = await _get(kube, "/api/v1")
    names = {r["name"] for r in doc["resources"]}  # type: ignore[attr-defined]
    assert {"namespaces", "secrets", "configmaps", "events", "namespaces/status"} <= names


async def test_apis_lists_builtin_and_crd_groups(kube: KubeEmulator) -> None:
    _, doc = await _get(kube, "/apis")
    groups = {g["name"]: g for g in doc["groups"]}  # type: ignore[attr-defined]
    assert {
        "coordination.k8s.io",
        "apiextensions.k8s.io",
        "dr.openova.io",
        "postgresql.cnpg.io",
        "gateway.networking.k8s.io",
    } <= set(groups)
    assert groups["dr.openova.io"]["preferredVersion"]["groupVersion"] == "dr.openova.io/v1"


async def test_group_version_lists_resources_with_status_subresource(kube: KubeEmulator) -> None:
    _, group = await _get(kube, "/apis/dr.openova.io")
    assert group["kind"] == "APIGroup"
    _, doc = await _get(kube, "/apis/dr.openova.io/v1")
    by_name = {r["name"]: r for r in doc["resources"]}  # type: ignore[attr-defined]
    assert by_name["continuums"]["shortNames"] == ["dr"]
    assert by_name["continuums"]["namespaced"] is True
    assert "watch" in by_name["continuums"]["verbs"]
    assert by_name["continuums/status"]["verbs"] == ["get", "patch", "update"]


async def test_unknown_group_is_404_with_status_body(kube: KubeEmulator) -> None:
    status, body = await _get(kube, "/apis/nope.example.com/v1")
    assert status == 404
    assert body["kind"] == "Status"
    assert body["code"] == 404


async def test_kubernetes_asyncio_reads_version_and_groups(api: client.ApiClient) -> None:
    version = await client.VersionApi(api).get_code()
    assert version.major == "1"
    groups = await client.ApisApi(api).get_api_versions()
    assert "dr.openova.io" in {g.name for g in groups.groups}


async def test_openapi_v3_declares_field_validation_for_crs(kube: KubeEmulator) -> None:
    _, root = await _get(kube, "/openapi/v3")
    url = root["paths"]["apis/dr.openova.io/v1"]["serverRelativeURL"]  # type: ignore[index]
    _, doc = await _get(kube, url)
    patch = doc["paths"]["/apis/dr.openova.io/v1/namespaces/{namespace}/continuums/{name}"]["patch"]  # type: ignore[index]
    assert {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}} in patch[
        "parameters"
    ]
