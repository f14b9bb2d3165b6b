"""PUT and PATCH: optimistic concurrency, status separation, generation, patch types."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from continuum_sim.kube import KubeEmulator
from tests.sim_kube.kube_helpers import (
    GROUP,
    MERGE,
    PLURAL,
    VERSION,
    continuum,
    create_cr,
    patch_cr,
)

pytestmark = pytest.mark.anyio


async def _create(crs: client.CustomObjectsApi, name: str = "a") -> dict[str, Any]:
    obj: dict[str, Any] = await create_cr(crs, continuum(name))
    return obj


async def _replace(crs: client.CustomObjectsApi, body: dict[str, Any]) -> dict[str, Any]:
    obj: dict[str, Any] = await crs.replace_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, body["metadata"]["name"], body
    )
    return obj


async def test_put_without_resource_version_is_422(crs: client.CustomObjectsApi) -> None:
    obj = await _create(crs)
    del obj["metadata"]["resourceVersion"]
    with pytest.raises(ApiException) as caught:
        await _replace(crs, obj)
    assert caught.value.status == 422
    assert "metadata.resourceVersion" in json.loads(caught.value.body)["message"]


async def test_put_with_stale_resource_version_is_409(crs: client.CustomObjectsApi) -> None:
    obj = await _create(crs)
    obj["spec"]["rto"] = "60s"
    await _replace(crs, dict(obj))
    obj["spec"]["rto"] = "90s"
    with pytest.raises(ApiException) as caught:
        await _replace(crs, obj)
    assert caught.value.status == 409
    assert json.loads(caught.value.body)["reason"] == "Conflict"


async def test_concurrent_puts_with_the_same_resource_version_exactly_one_wins(
    crs: client.CustomObjectsApi,
) -> None:
    obj = await _create(crs)

    async def attempt(i: int) -> int:
        body = json.loads(json.dumps(obj))
        body["spec"]["rto"] = f"{i}s"
        try:
            await _replace(crs, body)
        except ApiException as exc:
            return exc.status  # type: ignore[no-any-return]
        return 200

    statuses = await asyncio.gather(*(attempt(i) for i in range(8)))
    assert sorted(statuses) == [200] + [409] * 7


async def test_main_resource_write_ignores_status_and_status_write_ignores_spec(
    crs: client.CustomObjectsApi,
) -> None:
    obj = await _create(crs)
    obj["status"] = {"phase": "Healthy"}
    obj["spec"]["rto"] = "60s"
    updated = await _replace(crs, obj)
    assert "status" not in updated
    assert updated["spec"]["rto"] == "60s"
    updated["status"] = {"phase": "Degraded"}
    updated["spec"]["rto"] = "999s"
    after = await crs.replace_namespaced_custom_object_status(
        GROUP, VERSION, "default", PLURAL, "a", updated
    )
    assert after["status"] == {"phase": "Degraded"}
    assert after["spec"]["rto"] == "60s"


async def test_generation_bumps_only_on_spec_change(crs: client.CustomObjectsApi) -> None:
    await _create(crs)
    labelled = await patch_cr(crs, "a", {"metadata": {"labels": {"x": "y"}}}, content_type=MERGE)
    assert labelled["metadata"]["generation"] == 1
    with_status = await patch_cr(
        crs, "a", {"status": {"phase": "Healthy"}}, content_type=MERGE, status=True
    )
    assert with_status["metadata"]["generation"] == 1
    spec_changed = await patch_cr(crs, "a", {"spec": {"rto": "5m"}}, content_type=MERGE)
    assert spec_changed["metadata"]["generation"] == 2


async def test_no_op_write_keeps_the_resource_version(
    kube: KubeEmulator, crs: client.CustomObjectsApi
) -> None:
    obj = await _create(crs)
    same = await _replace(crs, json.loads(json.dumps(obj)))
    patched = await patch_cr(crs, "a", {"spec": {"applicationRef": "shop"}}, content_type=MERGE)
    assert same["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]
    assert patched["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]
    assert kube.store.resource_version == int(obj["metadata"]["resourceVersion"])


async def test_merge_patch_null_deletes_and_objects_merge(crs: client.CustomObjectsApi) -> None:
    await create_cr(crs, continuum("a", rto="60s", extra={"a": 1, "b": 2}))
    patched = await patch_cr(
        crs, "a", {"spec": {"rto": None, "extra": {"a": None, "c": 3}}}, content_type=MERGE
    )
    assert "rto" not in patched["spec"]
    assert patched["spec"]["extra"] == {"b": 2, "c": 3}
    assert patched["spec"]["applicationRef"] == "shop"


async def test_json_patch_applies_operations_and_a_failed_test_is_422(
    crs: client.CustomObjectsApi,
) -> None:
    await _create(crs)
    patched = await patch_cr(
        crs,
        "a",
        [
            {"op": "replace", "path": "/spec/applicationRef", "value": "cart"},
            {"op": "add", "path": "/spec/hotStandbyRegions/-", "value": "hz-nbg-rtz-prod"},
        ],
    )
    assert patched["spec"]["applicationRef"] == "cart"
    assert patched["spec"]["hotStandbyRegions"][-1] == "hz-nbg-rtz-prod"
    with pytest.raises(ApiException) as caught:
        await patch_cr(crs, "a", [{"op": "test", "path": "/spec/applicationRef", "value": "shop"}])
    assert caught.value.status == 422


async def test_strategic_merge_is_415_for_custom_resources(crs: client.CustomObjectsApi) -> None:
    await _create(crs)
    with pytest.raises(ApiException) as caught:
        await patch_cr(
            crs, "a", {"spec": {"rto": "1s"}}, content_type="application/strategic-merge-patch+json"
        )
    assert caught.value.status == 415
    assert json.loads(caught.value.body)["reason"] == "UnsupportedMediaType"


async def test_strategic_merge_patch_works_for_leases(api: client.ApiClient) -> None:
    leases = client.CoordinationV1Api(api)
    await leases.create_namespaced_lease(
        "default",
        client.V1Lease(
            metadata=client.V1ObjectMeta(name="l", finalizers=["a.io/x"]),
            spec=client.V1LeaseSpec(holder_identity="a", lease_duration_seconds=30),
        ),
    )
    patched = await leases.patch_namespaced_lease(
        "l",
        "default",
        {"metadata": {"finalizers": ["b.io/y"]}, "spec": {"holderIdentity": "b"}},
    )
    assert patched.spec.holder_identity == "b"
    assert patched.spec.lease_duration_seconds == 30
    assert patched.metadata.finalizers == ["a.io/x", "b.io/y"]


async def test_patch_with_stale_resource_version_in_body_is_409(
    crs: client.CustomObjectsApi,
) -> None:
    obj = await _create(crs)
    stale = obj["metadata"]["resourceVersion"]
    await patch_cr(crs, "a", {"spec": {"rto": "1s"}}, content_type=MERGE)
    with pytest.raises(ApiException) as caught:
        await patch_cr(
            crs,
            "a",
            {"metadata": {"resourceVersion": stale}, "spec": {"rto": "2s"}},
            content_type=MERGE,
        )
    assert caught.value.status == 409


async def test_lease_compare_and_set_by_resource_version(api: client.ApiClient) -> None:
    leases = client.CoordinationV1Api(api)
    created = await leases.create_namespaced_lease(
        "default",
        client.V1Lease(
            metadata=client.V1ObjectMeta(name="l"), spec=client.V1LeaseSpec(holder_identity="a")
        ),
    )
    created.spec.holder_identity = "b"
    taken = await leases.replace_namespaced_lease("l", "default", created)
    assert taken.spec.holder_identity == "b"
    created.spec.holder_identity = "c"
    with pytest.raises(ApiException) as caught:
        await leases.replace_namespaced_lease("l", "default", created)
    assert caught.value.status == 409
