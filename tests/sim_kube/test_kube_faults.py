"""Fault injection, the request log, auth, kubeconfigs and several emulators at once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest
import yaml
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from continuum.clock import FakeClock
from continuum_sim.kube import KubeEmulator, write_kubeconfig
from tests.sim_kube.kube_helpers import (
    GROUP,
    MERGE,
    PLURAL,
    TEST_CRD,
    VERSION,
    continuum,
    create_cr,
    get_cr,
    patch_cr,
)

pytestmark = pytest.mark.anyio


async def test_fail_answers_the_next_n_matching_requests_with_the_status(
    kube: KubeEmulator, crs: client.CustomObjectsApi
) -> None:
    kube.faults.fail(method="POST", path_regex="/continuums$", status=500, count=2)
    for _ in range(2):
        with pytest.raises(ApiException) as caught:
            await create_cr(crs, continuum("a"))
        assert caught.value.status == 500
        assert json.loads(caught.value.body)["kind"] == "Status"
    created = await create_cr(crs, continuum("a"))
    assert created["metadata"]["name"] == "a"


async def test_fail_can_match_by_verb_and_resource_with_a_custom_body(
    kube: KubeEmulator, crs: client.CustomObjectsApi
) -> None:
    await create_cr(crs, continuum("a"))
    rule = kube.faults.fail(
        verb="patch", resource=PLURAL, status=409, count=None, message="injected conflict"
    )
    for _ in range(3):
        with pytest.raises(ApiException) as caught:
            await patch_cr(crs, "a", {"spec": {"rto": "1s"}}, content_type=MERGE)
        assert caught.value.status == 409
    assert rule.hits == 3
    assert await get_cr(crs, "a")
    kube.faults.clear()
    await patch_cr(crs, "a", {"spec": {"rto": "1s"}}, content_type=MERGE)


async def test_delay_holds_requests_on_the_emulator_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    async with KubeEmulator(crd_paths=[TEST_CRD], clock=clock) as kube:
        kube.faults.delay(seconds=5, method="GET")
        async with aiohttp.ClientSession() as session:
            pending = asyncio.ensure_future(session.get(f"{kube.url}/version"))
            await clock.wait_armed(clock.monotonic() + 5)  # the delay holds the request
            assert not pending.done()
            clock.advance(5)
            response = await pending
            assert response.status == 200
            response.release()


async def test_hang_never_answers_until_cleared(kube: KubeEmulator) -> None:
    kube.faults.hang(path_regex="^/version$")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(asyncio.TimeoutError):
            async with session.get(f"{kube.url}/version", timeout=aiohttp.ClientTimeout(total=0.2)):
                pass
        async with session.get(f"{kube.url}/version") as resp:
            assert resp.status == 200


async def test_drop_connection_closes_without_an_answer(
    kube: KubeEmulator, crs: client.CustomObjectsApi
) -> None:
    kube.faults.drop_connection(method="POST")
    with pytest.raises(aiohttp.ClientError):
        await create_cr(crs, continuum("a"))
    assert kube.store.get(GROUP, PLURAL, "default", "a") is None
    await create_cr(crs, continuum("a"))


async def test_request_log_records_verbs_and_rbac_tuples(
    kube: KubeEmulator, api: client.ApiClient, crs: client.CustomObjectsApi
) -> None:
    kube.requests.clear()
    await create_cr(crs, continuum("a"))
    await get_cr(crs, "a")
    await crs.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    await patch_cr(crs, "a", {"status": {"phase": "Healthy"}}, content_type=MERGE, status=True)
    await client.CoordinationV1Api(api).list_namespaced_lease("default")
    assert [r.verb for r in kube.requests] == ["create", "get", "list", "patch", "list"]
    assert len(kube.requests.writes()) == 2
    assert kube.requests.rbac() == {
        ("create", GROUP, PLURAL),
        ("get", GROUP, PLURAL),
        ("list", GROUP, PLURAL),
        ("patch", GROUP, "continuums/status"),
        ("list", "coordination.k8s.io", "leases"),
    }
    status_patch = kube.requests[3]
    assert (status_patch.namespace, status_patch.name, status_patch.subresource) == (
        "default",
        "a",
        "status",
    )
    assert status_patch.status == 200


async def test_required_token_rejects_other_credentials_with_401(tmp_path: Path) -> None:
    async with KubeEmulator(token="s3cret") as kube:
        path = kube.write_kubeconfig(tmp_path / "kc")
        async with await config.new_client_from_config(config_file=str(path)) as api:
            namespaces = await client.CoreV1Api(api).list_namespace()
            assert "default" in {n.metadata.name for n in namespaces.items}
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{kube.url}/api/v1/namespaces", headers={"Authorization": "Bearer wrong"}
            ) as resp,
        ):
            assert resp.status == 401
            assert (await resp.json())["reason"] == "Unauthorized"


async def test_several_emulators_are_independent_and_share_one_kubeconfig(
    tmp_path: Path,
) -> None:
    async with (
        KubeEmulator(region="a", crd_paths=[TEST_CRD]) as a,
        KubeEmulator(region="b", crd_paths=[TEST_CRD]) as b,
    ):
        path = write_kubeconfig(tmp_path / "kc", {"region-a": a, "region-b": b})
        doc = yaml.safe_load(path.read_text())
        assert doc["current-context"] == "region-a"
        assert {c["name"] for c in doc["contexts"]} == {"region-a", "region-b"}
        a.faults.fail(status=503, count=None)
        async with await config.new_client_from_config(
            config_file=str(path), context="region-b"
        ) as api:
            crs = client.CustomObjectsApi(api)
            await create_cr(crs, continuum("only-b"))
        assert b.store.get(GROUP, PLURAL, "default", "only-b") is not None
        assert a.store.get(GROUP, PLURAL, "default", "only-b") is None
        assert len(a.requests) == 0
        a.faults.clear()
