"""CRD schemas: validation with field paths, defaults, pruning; registering CRDs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from continuum_sim.kube import KubeEmulator
from continuum_sim.kube.emulator import BUNDLED_CRDS_DIR
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

CHART_CRD = Path(__file__).resolve().parents[2] / "chart" / "crds" / "continuum.yaml"


async def _create_error(crs: client.CustomObjectsApi, body: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ApiException) as caught:
        await create_cr(crs, body)
    assert caught.value.status == 422
    error: dict[str, Any] = json.loads(caught.value.body)
    return error


async def test_invalid_body_is_422_naming_the_field_path(crs: client.CustomObjectsApi) -> None:
    body = continuum("a", leaseClient={"kind": "k8s-lease", "config": {"ttlSeconds": 900}})
    error = await _create_error(crs, body)
    assert error["reason"] == "Invalid"
    assert "spec.leaseClient.config.ttlSeconds: Invalid value: 900" in error["message"]
    assert error["details"]["causes"][0]["field"] == "spec.leaseClient.config.ttlSeconds"


async def test_missing_required_enum_pattern_and_type_errors_are_all_reported(
    crs: client.CustomObjectsApi,
) -> None:
    body = continuum("a", primaryRegion="fsn", leaseClient={"kind": "zookeeper"}, rto=60)
    del body["spec"]["applicationRef"]
    error = await _create_error(crs, body)
    fields = {c["field"] for c in error["details"]["causes"]}
    assert fields == {
        "spec.applicationRef",
        "spec.primaryRegion",
        "spec.leaseClient.kind",
        "spec.rto",
    }
    assert "spec.applicationRef: Required value" in error["message"]
    assert 'spec.leaseClient.kind: Unsupported value: "zookeeper"' in error["message"]


async def test_defaults_are_applied_under_present_parents(crs: client.CustomObjectsApi) -> None:
    obj = await create_cr(crs, continuum("a"))
    assert obj["spec"]["autoFailover"] is False
    assert obj["spec"]["leaseClient"]["config"] == {"ttlSeconds": 30, "renewSeconds": 10}
    without_config = continuum("b", leaseClient={"kind": "k8s-lease"})
    obj = await create_cr(crs, without_config)
    assert "config" not in obj["spec"]["leaseClient"]


async def test_unknown_fields_are_pruned_with_a_warning_unless_preserved(
    crs: client.CustomObjectsApi,
) -> None:
    body = continuum("a", bogus=1, extra={"anything": {"goes": True}})
    body["spec"]["leaseClient"]["config"]["workerURL"] = "https://w.example"
    obj, _, headers = await crs.create_namespaced_custom_object_with_http_info(
        GROUP, VERSION, "default", PLURAL, body
    )
    assert "bogus" not in obj["spec"]
    assert obj["spec"]["extra"] == {"anything": {"goes": True}}
    assert obj["spec"]["leaseClient"]["config"]["workerURL"] == "https://w.example"
    assert 'unknown field \\"spec.bogus\\"' in headers["Warning"]


async def test_strict_field_validation_rejects_unknown_fields_with_400(
    crs: client.CustomObjectsApi,
) -> None:
    with pytest.raises(ApiException) as caught:
        await crs.create_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, continuum("a", bogus=1), field_validation="Strict"
        )
    assert caught.value.status == 400
    assert 'unknown field "spec.bogus"' in json.loads(caught.value.body)["message"]


async def test_nullable_field_accepts_null(crs: client.CustomObjectsApi) -> None:
    obj = await create_cr(crs, continuum("a", note=None))
    assert obj["spec"]["note"] is None


async def test_status_writes_are_validated_against_the_schema(
    crs: client.CustomObjectsApi,
) -> None:
    await create_cr(crs, continuum("a"))
    with pytest.raises(ApiException) as caught:
        await patch_cr(
            crs,
            "a",
            {"status": {"phase": "Sideways"}},
            content_type=MERGE,
            status=True,
        )
    assert caught.value.status == 422
    assert "status.phase" in json.loads(caught.value.body)["message"]


def _widget_crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Cluster",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer"}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }


async def test_creating_a_crd_serves_its_resource_and_deleting_it_removes_objects(
    api: client.ApiClient, crs: client.CustomObjectsApi
) -> None:
    ext = client.ApiextensionsV1Api(api)
    crd = await ext.create_custom_resource_definition(_widget_crd())
    assert {c.type: c.status for c in crd.status.conditions}["Established"] == "True"
    assert crd.spec.names.singular == "widget"
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 3},
    }
    created = await crs.create_cluster_custom_object("example.com", "v1", "widgets", widget)
    assert created["spec"]["size"] == 3
    resources = await client.CustomObjectsApi(api).api_client.call_api(
        "/apis/example.com/v1",
        "GET",
        response_types_map={200: "object"},
        _return_http_data_only=True,
    )
    assert resources["resources"][0]["name"] == "widgets"
    await ext.delete_custom_resource_definition("widgets.example.com")
    with pytest.raises(ApiException) as caught:
        await crs.list_cluster_custom_object("example.com", "v1", "widgets")
    assert caught.value.status == 404


async def test_crd_name_must_be_plural_dot_group(api: client.ApiClient) -> None:
    crd = _widget_crd()
    crd["metadata"]["name"] = "wrong.example.com"
    with pytest.raises(ApiException) as caught:
        await client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)
    assert caught.value.status == 422
    assert "metadata.name" in json.loads(caught.value.body)["message"]


async def test_bundled_cnpg_cluster_and_httproute_crds_validate_and_default(
    crs: client.CustomObjectsApi,
) -> None:
    cluster = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "pg", "annotations": {"cnpg.io/fencedInstances": '["*"]'}},
        "spec": {
            "instances": 2,
            "replica": {
                "enabled": True,
                "primary": "pg-a",
                "source": "pg-b",
                "self": "pg-b",
                "promotionToken": "tok",
            },
        },
    }
    created = await crs.create_namespaced_custom_object(
        "postgresql.cnpg.io", "v1", "default", "clusters", cluster
    )
    assert created["spec"]["replica"]["promotionToken"] == "tok"
    status = {
        "status": {
            "phase": "Cluster in healthy state",
            "currentPrimary": "pg-1",
            "readyInstances": 2,
            "instances": 2,
            "demotionToken": "d",
            "timelineID": 3,
            "conditions": [{"type": "Ready", "status": "True"}],
        }
    }
    patched = await crs.patch_namespaced_custom_object_status(
        "postgresql.cnpg.io",
        "v1",
        "default",
        "clusters",
        "pg",
        status,
        _content_type=MERGE,
    )
    assert patched["status"]["timelineID"] == 3
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "shop"},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "hostnames": ["shop.example.com"],
            "rules": [
                {
                    "backendRefs": [
                        {"name": "shop-fsn", "port": 80},
                        {"name": "shop-hel", "port": 80, "weight": 0},
                    ]
                }
            ],
        },
    }
    created = await crs.create_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", "default", "httproutes", route
    )
    weights = [b["weight"] for b in created["spec"]["rules"][0]["backendRefs"]]
    assert weights == [1, 0]
    route["metadata"]["name"] = "bad"
    route["spec"]["rules"][0]["backendRefs"][0]["weight"] = -1
    with pytest.raises(ApiException) as caught:
        await crs.create_namespaced_custom_object(
            "gateway.networking.k8s.io", "v1", "default", "httproutes", route
        )
    assert "spec.rules[0].backendRefs[0].weight" in json.loads(caught.value.body)["message"]


async def test_bundled_crd_files_are_valid_crds() -> None:
    for path in sorted(BUNDLED_CRDS_DIR.glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        assert docs
        assert all(d["kind"] == "CustomResourceDefinition" for d in docs)


async def test_chart_continuum_crd_registers_and_accepts_the_spec_example() -> None:
    async with KubeEmulator() as kube:
        assert kube.load_crds([CHART_CRD]) == ["continuums.dr.openova.io"]
        result = kube.apply(continuum("shop-dr"))
        assert result.object["metadata"]["generation"] == 1
