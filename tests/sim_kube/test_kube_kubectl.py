"""kubectl (the real binary) against the emulator, through a plain kubeconfig."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from continuum.messages.crd import FINALIZER
from continuum_sim.kube import KubeEmulator
from continuum_sim.kube.emulator import BUNDLED_CRDS_DIR
from tests.sim_kube.kube_helpers import GROUP, KUBECTL, PLURAL, Kubectl, continuum

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not Path(KUBECTL).exists(), reason="kubectl is not installed"),
]


@pytest.fixture
async def kubectl(kube: KubeEmulator, tmp_path: Path) -> Kubectl:
    kube.apply(continuum("shop-dr"))
    return Kubectl(kube, tmp_path)


async def test_kubectl_get_continuums_prints_printer_columns(kubectl: Kubectl) -> None:
    out = await kubectl("get", "continuums")
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "APPLICATION", "PRIMARY", "LEASE", "PHASE", "AGE"]
    assert row.split()[:2] == ["shop-dr", "shop"]


async def test_kubectl_get_dr_json_and_name_and_jsonpath(kubectl: Kubectl) -> None:
    doc = json.loads(await kubectl("get", "dr", "-o", "json"))
    assert doc["items"][0]["metadata"]["name"] == "shop-dr"
    assert (await kubectl("get", "dr", "-o", "name")).strip() == f"continuum.{GROUP}/shop-dr"
    out = await kubectl(
        "get", "dr", "shop-dr", "-o", "jsonpath={.spec.leaseClient.config.ttlSeconds}"
    )
    assert out == "30"


async def test_kubectl_patch_merge_spec_and_status(kube: KubeEmulator, kubectl: Kubectl) -> None:
    await kubectl("patch", "dr", "shop-dr", "--type=merge", "-p", '{"spec":{"rto":"60s"}}')
    await kubectl(
        "patch",
        "dr",
        "shop-dr",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"phase":"Healthy","leaseHolder":"region-a"}}',
    )
    stored = kube.store.get(GROUP, PLURAL, "default", "shop-dr")
    assert stored is not None
    assert stored["spec"]["rto"] == "60s"
    assert stored["status"]["phase"] == "Healthy"
    out = await kubectl("get", "dr", "shop-dr")
    assert "Healthy" in out
    assert "region-a" in out


async def test_kubectl_api_resources_lists_every_served_resource(kubectl: Kubectl) -> None:
    out = await kubectl("api-resources")
    names = {line.split()[0] for line in out.splitlines()[1:]}
    assert {
        "namespaces",
        "secrets",
        "configmaps",
        "leases",
        "customresourcedefinitions",
        "continuums",
        "clusters",
        "httproutes",
    } <= names


async def test_kubectl_apply_of_a_crd_file_registers_it(tmp_path: Path) -> None:
    async with KubeEmulator() as kube:
        kubectl = Kubectl(kube, tmp_path)
        await kubectl("apply", "-f", str(BUNDLED_CRDS_DIR / "gateway-httproute.yaml"))
        out = await kubectl("get", "crd", "-o", "name")
        assert (
            "customresourcedefinition.apiextensions.k8s.io/httproutes.gateway.networking.k8s.io"
            in out
        )
        await kubectl("apply", "-f", str(BUNDLED_CRDS_DIR / "gateway-httproute.yaml"))
        assert "httproutes" in await kubectl("api-resources")


async def test_kubectl_create_reports_schema_errors(kubectl: Kubectl, tmp_path: Path) -> None:
    bad = continuum("bad", rto="soon")
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    out = await kubectl("create", "-f", str(tmp_path / "bad.json"), ok=False)
    assert "spec.rto" in out
    assert "is invalid" in out


async def test_the_runbooks_escape_hatch_removes_the_controllers_finalizer(
    kube: KubeEmulator, tmp_path: Path
) -> None:
    """``docs/runbook.md`` section 5, verbatim: with the controller gone, a deleted CR held
    by its finalizer is released by a JSON patch whose ``test`` guards the index."""
    body = continuum("held")
    body["metadata"]["finalizers"] = ["other.io/keep", FINALIZER]
    kube.apply(body)
    kubectl = Kubectl(kube, tmp_path)
    await kubectl("delete", "continuum", "held", "--wait=false")
    held = kube.store.get(GROUP, PLURAL, "default", "held")
    assert held is not None
    assert held["metadata"]["deletionTimestamp"]
    listed = await kubectl("get", "continuum", "held", "-o", "jsonpath={.metadata.finalizers}")
    index = json.loads(listed).index(FINALIZER)
    assert index == 1

    def hatch(at: int) -> str:
        return json.dumps(
            [
                {"op": "test", "path": f"/metadata/finalizers/{at}", "value": FINALIZER},
                {"op": "remove", "path": f"/metadata/finalizers/{at}"},
            ]
        )

    # The wrong index: the test operation fails, nothing is removed.
    await kubectl("patch", "continuum", "held", "--type=json", "-p", hatch(0), ok=False)
    still = kube.store.get(GROUP, PLURAL, "default", "held")
    assert still is not None
    assert still["metadata"]["finalizers"] == ["other.io/keep", FINALIZER]
    await kubectl("patch", "continuum", "held", "--type=json", "-p", hatch(index))
    left = kube.store.get(GROUP, PLURAL, "default", "held")
    assert left is not None  # the other controller's finalizer still holds it
    assert left["metadata"]["finalizers"] == ["other.io/keep"]
