"""Create, read, list and delete, as kubernetes-asyncio sees them."""

from __future__ import annotations

import json

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
    delete_cr,
    get_cr,
    patch_cr,
)

pytestmark = pytest.mark.anyio


async def test_create_returns_201_with_uid_rv_timestamp_and_generation(
    crs: client.CustomObjectsApi,
) -> None:
    _, status, _ = await crs.create_namespaced_custom_object_with_http_info(
        GROUP, VERSION, "default", PLURAL, continuum("a")
    )
    assert status == 201
    obj = await get_cr(crs, "a")
    meta = obj["metadata"]
    assert len(meta["uid"]) == 36
    assert meta["resourceVersion"].isdigit()
    assert meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1


async def test_resource_version_is_a_global_counter_across_kinds(
    api: client.ApiClient, crs: client.CustomObjectsApi
) -> None:
    first = await create_cr(crs, continuum("a"))
    cm = await client.CoreV1Api(api).create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"), data={"k": "v"})
    )
    assert int(cm.metadata.resource_version) == int(first["metadata"]["resourceVersion"]) + 1


async def test_create_of_existing_name_is_409_already_exists(crs: client.CustomObjectsApi) -> None:
    await create_cr(crs, continuum("a"))
    with pytest.raises(ApiException) as caught:
        await create_cr(crs, continuum("a"))
    assert caught.value.status == 409
    assert json.loads(caught.value.body)["reason"] == "AlreadyExists"


async def test_get_of_missing_object_is_404_with_full_status_body(
    crs: client.CustomObjectsApi,
) -> None:
    with pytest.raises(ApiException) as caught:
        await get_cr(crs, "ghost")
    body = json.loads(caught.value.body)
    assert caught.value.status == 404
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'continuums.dr.openova.io "ghost" not found',
        "reason": "NotFound",
        "details": {"name": "ghost", "group": "dr.openova.io", "kind": "continuums"},
        "code": 404,
    }


async def test_create_in_missing_namespace_is_404(crs: client.CustomObjectsApi) -> None:
    with pytest.raises(ApiException) as caught:
        await crs.create_namespaced_custom_object(
            GROUP, VERSION, "nowhere", PLURAL, continuum("a", namespace="nowhere")
        )
    assert caught.value.status == 404
    assert json.loads(caught.value.body)["message"] == 'namespaces "nowhere" not found'


async def test_generate_name_gets_a_random_suffix(crs: client.CustomObjectsApi) -> None:
    body = continuum("")
    body["metadata"] = {"generateName": "shop-"}
    obj = await create_cr(crs, body)
    assert obj["metadata"]["name"].startswith("shop-")
    assert len(obj["metadata"]["name"]) == len("shop-") + 5


async def test_list_has_list_kind_and_resource_version(crs: client.CustomObjectsApi) -> None:
    await create_cr(crs, continuum("a"))
    listed = await crs.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
    assert listed["kind"] == "ContinuumList"
    assert listed["apiVersion"] == "dr.openova.io/v1"
    assert int(listed["metadata"]["resourceVersion"]) >= 1
    assert [i["metadata"]["name"] for i in listed["items"]] == ["a"]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier=web", ["web1", "web2"]),
        ("tier==web", ["web1", "web2"]),
        ("tier!=web", ["db", "plain"]),
        ("tier in (db, cache)", ["db"]),
        ("tier notin (web)", ["db", "plain"]),
        ("tier", ["db", "web1", "web2"]),
        ("!tier", ["plain"]),
        ("tier=web,zone=a", ["web1"]),
    ],
)
async def test_label_selectors_filter_lists(
    crs: client.CustomObjectsApi, selector: str, expected: list[str]
) -> None:
    labels = {
        "web1": {"tier": "web", "zone": "a"},
        "web2": {"tier": "web"},
        "db": {"tier": "db"},
        "plain": {},
    }
    for name, lab in labels.items():
        body = continuum(name)
        body["metadata"]["labels"] = lab
        await create_cr(crs, body)
    listed = await crs.list_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, label_selector=selector
    )
    assert sorted(i["metadata"]["name"] for i in listed["items"]) == sorted(expected)


async def test_malformed_label_selector_is_400(crs: client.CustomObjectsApi) -> None:
    with pytest.raises(ApiException) as caught:
        await crs.list_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, label_selector="a in (b"
        )
    assert caught.value.status == 400


async def test_field_selectors_on_name_and_namespace_and_cluster_wide_list(
    kube: KubeEmulator, crs: client.CustomObjectsApi
) -> None:
    kube.ensure_namespace("other")
    await create_cr(crs, continuum("a"))
    await create_cr(crs, continuum("b"))
    await crs.create_namespaced_custom_object(
        GROUP, VERSION, "other", PLURAL, continuum("a", namespace="other")
    )
    everywhere = await crs.list_cluster_custom_object(GROUP, VERSION, PLURAL)
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in everywhere["items"]] == [
        ("default", "a"),
        ("default", "b"),
        ("other", "a"),
    ]
    by_name = await crs.list_cluster_custom_object(
        GROUP, VERSION, PLURAL, field_selector="metadata.name=a"
    )
    assert {i["metadata"]["namespace"] for i in by_name["items"]} == {"default", "other"}
    by_ns = await crs.list_cluster_custom_object(
        GROUP, VERSION, PLURAL, field_selector="metadata.namespace!=default"
    )
    assert [i["metadata"]["namespace"] for i in by_ns["items"]] == ["other"]
    with pytest.raises(ApiException) as caught:
        await crs.list_cluster_custom_object(GROUP, VERSION, PLURAL, field_selector="spec.x=1")
    assert caught.value.status == 400


async def test_list_paginates_with_limit_and_continue(crs: client.CustomObjectsApi) -> None:
    for i in range(5):
        await create_cr(crs, continuum(f"c{i}"))
    page = await crs.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, limit=2)
    names = [i["metadata"]["name"] for i in page["items"]]
    while page["metadata"].get("continue"):
        page = await crs.list_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, limit=2, _continue=page["metadata"]["continue"]
        )
        names += [i["metadata"]["name"] for i in page["items"]]
    assert names == [f"c{i}" for i in range(5)]


async def test_delete_without_finalizers_removes_the_object(crs: client.CustomObjectsApi) -> None:
    await create_cr(crs, continuum("a"))
    await delete_cr(crs, "a")
    with pytest.raises(ApiException) as caught:
        await get_cr(crs, "a")
    assert caught.value.status == 404


async def test_finalizers_hold_deletion_until_the_last_one_is_removed(
    crs: client.CustomObjectsApi,
) -> None:
    body = continuum("a")
    body["metadata"]["finalizers"] = ["x.io/one", "x.io/two"]
    created = await create_cr(crs, body)
    await delete_cr(crs, "a")
    held = await get_cr(crs, "a")
    assert held["metadata"]["deletionTimestamp"]
    # As the API server's markAsDeleting does: the first deletion moves the generation on.
    assert held["metadata"]["generation"] == created["metadata"]["generation"] + 1
    await delete_cr(crs, "a")
    assert (await get_cr(crs, "a"))["metadata"]["generation"] == held["metadata"]["generation"]
    await patch_cr(crs, "a", {"metadata": {"finalizers": ["x.io/two"]}}, content_type=MERGE)
    assert await get_cr(crs, "a")
    with pytest.raises(ApiException) as added:
        await patch_cr(
            crs, "a", {"metadata": {"finalizers": ["x.io/two", "x.io/new"]}}, content_type=MERGE
        )
    assert added.value.status == 422
    await patch_cr(crs, "a", {"metadata": {"finalizers": None}}, content_type=MERGE)
    with pytest.raises(ApiException) as gone:
        await get_cr(crs, "a")
    assert gone.value.status == 404


async def test_delete_precondition_on_stale_resource_version_is_409(
    crs: client.CustomObjectsApi,
) -> None:
    await create_cr(crs, continuum("a"))
    with pytest.raises(ApiException) as caught:
        await delete_cr(
            crs,
            "a",
            body=client.V1DeleteOptions(preconditions=client.V1Preconditions(resource_version="1")),
        )
    assert caught.value.status == 409


async def test_secrets_configmaps_and_namespaces_round_trip(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="acme")))
    ns = await core.read_namespace("acme")
    assert ns.status.phase == "Active"
    secret = await core.create_namespaced_secret(
        "acme",
        client.V1Secret(metadata=client.V1ObjectMeta(name="s"), string_data={"token": "abc"}),
    )
    assert secret.data == {"token": "YWJj"}
    assert secret.type == "Opaque"
    await core.create_namespaced_config_map(
        "acme", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"), data={"a": "1"})
    )
    assert [c.metadata.name for c in (await core.list_namespaced_config_map("acme")).items] == ["c"]
    await core.delete_namespace("acme")
    assert (await core.list_namespaced_secret("acme")).items == []


async def test_dry_run_create_persists_nothing(
    kube: KubeEmulator, crs: client.CustomObjectsApi
) -> None:
    obj = await crs.create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, continuum("a"), dry_run="All"
    )
    assert obj["metadata"]["name"] == "a"
    assert kube.store.get(GROUP, PLURAL, "default", "a") is None


async def test_server_side_apply_creates_then_merges(crs: client.CustomObjectsApi) -> None:
    apply = "application/apply-patch+yaml"
    _, status, _ = await crs.patch_namespaced_custom_object_with_http_info(
        GROUP,
        VERSION,
        "default",
        PLURAL,
        "a",
        continuum("a"),
        field_manager="test",
        _content_type=apply,
    )
    assert status == 201
    merged = await crs.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        "default",
        PLURAL,
        "a",
        {**continuum("a"), "spec": {"rto": "9s"}},
        field_manager="test",
        _content_type=apply,
    )
    assert merged["spec"]["rto"] == "9s"
    assert merged["spec"]["applicationRef"] == "shop"


async def test_delete_collection_honours_label_selectors(crs: client.CustomObjectsApi) -> None:
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db")):
        body = continuum(name)
        body["metadata"]["labels"] = {"tier": tier}
        await create_cr(crs, body)
    await crs.delete_collection_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, label_selector="tier=web"
    )
    left = await crs.list_namespaced_custom_object(GROUP, VERSION, "default", PLURAL)
    assert [i["metadata"]["name"] for i in left["items"]] == ["c"]


async def test_status_subresource_get_returns_the_object(crs: client.CustomObjectsApi) -> None:
    await create_cr(crs, continuum("a"))
    obj = await crs.get_namespaced_custom_object_status(GROUP, VERSION, "default", PLURAL, "a")
    assert obj["metadata"]["name"] == "a"
    with pytest.raises(ApiException) as caught:
        await crs.get_namespaced_custom_object_scale(GROUP, VERSION, "default", PLURAL, "a")
    assert caught.value.status == 404
