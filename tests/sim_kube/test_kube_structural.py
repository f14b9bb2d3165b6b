"""What a real API server does beyond the schema's types: list-type uniqueness, the
annotations size limit, pruning of ``null`` in non-nullable fields before defaulting, and
``Status`` causes whose message does not repeat the field (kubectl prints both)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from continuum_sim.kube import KubeEmulator
from tests.sim_kube.kube_helpers import (
    GROUP,
    KUBECTL,
    MERGE,
    PLURAL,
    Kubectl,
    continuum,
    create_cr,
    patch_cr,
)

pytestmark = pytest.mark.anyio

CHART_CRD = Path(__file__).resolve().parents[2] / "chart" / "crds" / "continuum.yaml"
LUA = {"hostnames": ["shop.example.com"], "healthCheck": {"url": "https://x/healthz"}}


@pytest.fixture
async def chart_kube() -> AsyncIterator[KubeEmulator]:
    async with KubeEmulator(region="a", crd_paths=[CHART_CRD]) as emulator:
        yield emulator


@pytest.fixture
async def chart_crs(chart_kube: KubeEmulator, tmp_path: Path) -> AsyncIterator[Any]:
    path = chart_kube.write_kubeconfig(tmp_path / "kubeconfig")
    api = await config.new_client_from_config(config_file=str(path), context="a")
    async with api:
        yield client.CustomObjectsApi(api)


async def _causes(call: Any) -> list[dict[str, str]]:
    with pytest.raises(ApiException) as caught:
        await call
    assert caught.value.status == 422, caught.value.body
    causes: list[dict[str, str]] = json.loads(caught.value.body)["details"]["causes"]
    return causes


async def test_duplicate_in_a_set_list_is_refused_at_its_index(
    chart_crs: client.CustomObjectsApi,
) -> None:
    body = continuum("a", primaryRegion="fsn", hotStandbyRegions=["hel", "ash", "hel"])
    causes = await _causes(create_cr(chart_crs, body))
    assert causes[0] == {
        "reason": "FieldValueDuplicate",
        "field": "spec.hotStandbyRegions[2]",
        "message": 'Duplicate value: "hel"',
    }


async def test_duplicate_key_in_a_map_list_is_refused_on_create_and_patch(
    chart_crs: client.CustomObjectsApi,
) -> None:
    regions = [
        {"name": "fsn", "lbIPs": ["192.0.2.1"]},
        {"name": "hel", "lbIPs": ["192.0.2.2"]},
    ]
    await create_cr(chart_crs, continuum("a", primaryRegion="fsn", hotStandbyRegions=["hel"]))
    twice = [*regions, {"name": "fsn", "lbIPs": ["192.0.2.3"]}]
    causes = await _causes(
        patch_cr(
            chart_crs,
            "a",
            {"spec": {"luaRecord": LUA, "pdmZone": "example.com", "regions": twice}},
            content_type=MERGE,
        )
    )
    assert causes == [
        {
            "reason": "FieldValueDuplicate",
            "field": "spec.regions[2]",
            "message": 'Duplicate value: map[string]interface {}{"name":"fsn"}',
        }
    ]
    patched = await patch_cr(
        chart_crs,
        "a",
        {"spec": {"luaRecord": LUA, "pdmZone": "example.com", "regions": regions}},
        content_type=MERGE,
    )
    assert [r["name"] for r in patched["spec"]["regions"]] == ["fsn", "hel"]


async def test_duplicate_condition_type_in_status_is_refused(
    chart_crs: client.CustomObjectsApi,
) -> None:
    await create_cr(chart_crs, continuum("a", primaryRegion="fsn", hotStandbyRegions=["hel"]))
    ready = {"type": "Ready", "status": "True", "reason": "Ok"}
    causes = await _causes(
        patch_cr(chart_crs, "a", {"status": {"conditions": [ready, ready]}}, content_type=MERGE,
                 status=True)
    )  # fmt: skip
    assert causes[0]["field"] == "status.conditions[1]"
    assert causes[0]["reason"] == "FieldValueDuplicate"


async def test_null_in_a_non_nullable_field_is_pruned_and_defaulted(
    chart_crs: client.CustomObjectsApi,
) -> None:
    body = continuum(
        "a",
        primaryRegion="fsn",
        hotStandbyRegions=["hel"],
        autoFailover=None,
        rto=None,
        leaseClient={"kind": "k8s-lease", "config": {"ttlSeconds": None, "renewSeconds": 5}},
    )
    created = await create_cr(chart_crs, body)
    assert created["spec"]["autoFailover"] is False
    assert "rto" not in created["spec"]
    config_ = created["spec"]["leaseClient"]["config"]
    assert (config_["ttlSeconds"], config_["renewSeconds"]) == (30, 5)


async def test_annotations_over_256_kib_are_refused_for_every_kind(
    kube: KubeEmulator, api: client.ApiClient, crs: client.CustomObjectsApi
) -> None:
    big = {"a": "x" * (256 * 1024)}  # key + value: one byte over
    body = continuum("a")
    body["metadata"]["annotations"] = big
    causes = await _causes(create_cr(crs, body))
    assert causes == [
        {
            "reason": "FieldValueTooLong",
            "field": "metadata.annotations",
            "message": "Too long: must have at most 262144 bytes",
        }
    ]
    fits = {"a": "x" * (256 * 1024 - 1)}
    core = client.CoreV1Api(api)
    created = await core.create_namespaced_config_map(
        "default", {"metadata": {"name": "cm", "annotations": fits}}
    )
    assert created.metadata.annotations == fits
    with pytest.raises(ApiException) as caught:
        await core.patch_namespaced_config_map(
            "cm", "default", {"metadata": {"annotations": {"b": "y"}}}
        )
    assert caught.value.status == 422
    assert "metadata.annotations: Too long: must have at most 262144 bytes" in caught.value.body
    stored = kube.store.get("", "configmaps", "default", "cm")
    assert stored is not None
    assert stored["metadata"]["annotations"] == fits


async def test_causes_hold_the_path_in_field_and_not_in_message(
    crs: client.CustomObjectsApi,
) -> None:
    body = continuum("a", leaseClient={"kind": "k8s-lease", "config": {"ttlSeconds": 900}})
    causes = await _causes(create_cr(crs, body))
    assert causes == [
        {
            "reason": "FieldValueInvalid",
            "field": "spec.leaseClient.config.ttlSeconds",
            "message": "Invalid value: 900: spec.leaseClient.config.ttlSeconds in body should "
            "be less than or equal to 600",
        }
    ]


@pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl is not installed")
async def test_kubectl_prints_each_field_once_for_several_errors(
    chart_kube: KubeEmulator, tmp_path: Path
) -> None:
    kubectl = Kubectl(chart_kube, tmp_path)
    bad = continuum("bad", primaryRegion="fsn", hotStandbyRegions=["hel", "hel"], rto="soon")
    bad["metadata"]["annotations"] = {"a": "x" * 200_000, "b": "y" * 70_000}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    out = await kubectl("create", "-f", str(tmp_path / "bad.json"), ok=False)
    assert "metadata.annotations: Too long: must have at most 262144 bytes" in out
    assert out.count("metadata.annotations") == 1
    del bad["metadata"]["annotations"]
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    out = await kubectl("create", "-f", str(tmp_path / "bad.json"), ok=False)
    assert '* spec.hotStandbyRegions[1]: Duplicate value: "hel"' in out
    assert out.count("* spec.rto:") == 1
    assert out.count("spec.hotStandbyRegions[1]") == 1
    assert chart_kube.store.get(GROUP, PLURAL, "default", "bad") is None


async def test_status_write_to_a_stored_object_with_nulls_and_no_defaults_is_accepted(
    chart_kube: KubeEmulator, chart_crs: client.CustomObjectsApi
) -> None:
    # Stored around validation (as an older CRD could have): a null, a missing required
    # field, no defaults. The old object is compared as read from storage (pruned and
    # defaulted), so a status write changes nothing in the spec and is not refused.
    raw = continuum("raw", primaryRegion="fsn", hotStandbyRegions=["hel"], applicationRef=None)
    del raw["spec"]["leaseClient"]
    generation = chart_kube.apply(raw, validate=False).object["metadata"]["generation"]
    patched = await patch_cr(
        chart_crs, "raw", {"status": {"phase": "Failed"}}, content_type=MERGE, status=True
    )
    assert patched["status"]["phase"] == "Failed"
    # A status write never moves the generation, even when reading the stored spec back
    # adds defaults (a watcher would otherwise see a spec change nobody made).
    assert patched["metadata"]["generation"] == generation
    # Nor does a main-resource write that only restates the spec as read back.
    restated = await patch_cr(
        chart_crs, "raw", {"metadata": {"labels": {"a": "b"}}}, content_type=MERGE
    )
    assert restated["metadata"]["generation"] == generation
    # Ratcheted too: the missing fields were missing before; a new bad value is not.
    await patch_cr(chart_crs, "raw", {"spec": {"rto": "1m"}}, content_type=MERGE)
    causes = await _causes(
        patch_cr(chart_crs, "raw", {"spec": {"rto": "soon"}}, content_type=MERGE)
    )
    assert [c["field"] for c in causes] == ["spec.rto"]
