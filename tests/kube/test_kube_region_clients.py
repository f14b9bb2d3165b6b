"""One client per region from kubeconfig contexts; API failures map to domain errors that
name the region."""

from __future__ import annotations

import pytest
import yaml

from continuum.adapters.continuums import ContinuumApi
from continuum.adapters.kube import KubeClients, RegionClient
from continuum.errors import Conflict, Invalid, KubeError, NotFound, Unavailable
from tests.kube.conftest import FIXTURES, REGION_A, REGION_B, Regions

pytestmark = pytest.mark.anyio


def _minimal() -> dict[str, object]:
    body = yaml.safe_load((FIXTURES / "continuum-minimal.yaml").read_text())
    assert isinstance(body, dict)
    return body


async def test_each_region_is_reached_through_its_own_context(regions: Regions) -> None:
    regions.a.apply(_minimal())
    ns = _minimal()["metadata"]["namespace"]  # type: ignore[index]
    api_a = ContinuumApi(regions.clients.for_region(REGION_A))
    api_b = ContinuumApi(regions.clients.for_region(REGION_B))
    found = await api_a.get(ns, "minimal")
    assert found.metadata.name == "minimal"
    with pytest.raises(NotFound) as err:
        await api_b.get(ns, "minimal")
    assert REGION_B in str(err.value)
    assert regions.b.requests
    assert regions.a.requests


async def test_unknown_region_is_unavailable_naming_it(regions: Regions) -> None:
    with pytest.raises(Unavailable, match=r"\[nowhere\]"):
        regions.clients.for_region("nowhere")
    assert set(regions.clients.regions) == {REGION_A, REGION_B}


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, Unavailable),
        (503, Unavailable),
        (429, Unavailable),
        (404, NotFound),
        (409, Conflict),
        (422, Invalid),
        (400, Invalid),
        (403, KubeError),
    ],
)
async def test_injected_status_maps_to_domain_error_with_region(
    regions: Regions, status: int, error: type[KubeError]
) -> None:
    regions.a.apply(_minimal())
    regions.a.faults.fail(method="GET", resource="continuums", status=status, message="boom")
    api = ContinuumApi(regions.clients.for_region(REGION_A))
    with pytest.raises(error) as err:
        await api.get_raw("acme", "minimal")
    assert type(err.value) is error
    assert err.value.region == REGION_A
    assert err.value.status == status
    assert f"[{REGION_A}]" in str(err.value)
    assert "boom" in str(err.value)


async def test_a_hung_request_times_out_as_unavailable(regions: Regions) -> None:
    regions.a.faults.hang(method="GET", resource="continuums")
    base = regions.clients.for_region(REGION_A)
    quick = RegionClient(REGION_A, base.api, request_timeout=0.2)
    with pytest.raises(Unavailable, match="timed out"):
        await ContinuumApi(quick).get_raw("acme", "minimal")


async def test_a_dropped_connection_is_unavailable(regions: Regions) -> None:
    regions.a.faults.drop_connection(method="GET", resource="continuums", count=None)
    with pytest.raises(Unavailable):
        await ContinuumApi(regions.clients.for_region(REGION_A)).get_raw("acme", "minimal")


async def test_a_stopped_server_is_unavailable(regions: Regions) -> None:
    await regions.b.stop()
    with pytest.raises(Unavailable, match=REGION_B):
        await ContinuumApi(regions.clients.for_region(REGION_B)).list_raw("acme")


async def test_a_rejected_body_is_invalid_naming_the_field(regions: Regions) -> None:
    client = regions.clients.for_region(REGION_A)
    body = _minimal()
    body["spec"]["leaseClient"]["config"] = {"ttlSeconds": 3}  # type: ignore[index]
    with pytest.raises(Invalid, match="ttlSeconds"):
        await client.call(
            client.custom.create_namespaced_custom_object,
            "dr.openova.io",
            "v1",
            "acme",
            "continuums",
            body,
            what="create continuum",
        )


async def test_missing_context_is_reported_with_the_region(regions: Regions) -> None:
    with pytest.raises(Unavailable, match=r"\[r-x\].*no-such-context"):
        await KubeClients.from_kubeconfig(str(regions.kubeconfig), {"r-x": "no-such-context"})
