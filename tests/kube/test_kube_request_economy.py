"""What a status write costs on the wire: one PATCH while the actor is the only writer, and
the client never re-reads the proxy environment per request."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import yaml

from continuum.adapters.continuums import ContinuumApi, decode_status
from continuum.messages.status import ContinuumStatus
from tests.kube.conftest import FIXTURES, REGION_A, Regions

pytestmark = pytest.mark.anyio


def _minimal() -> dict[str, object]:
    loaded = yaml.safe_load((Path(FIXTURES) / "continuum-minimal.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _requests(regions: Regions, method: str) -> int:
    return sum(1 for r in regions.a.requests if r.method == method and r.resource == "continuums")


async def test_consecutive_status_writes_by_one_writer_are_one_patch_each(
    regions: Regions,
) -> None:
    regions.a.apply(_minimal())
    api = ContinuumApi(regions.clients.for_region(REGION_A))
    first = await api.update_status(
        "acme", "minimal", lambda s: msgspec.structs.replace(s, phase="Pending")
    )
    gets, patches = _requests(regions, "GET"), _requests(regions, "PATCH")
    status: ContinuumStatus = first
    for holder in ("a", "b", "c"):
        new = msgspec.structs.replace(status, lease_holder=holder)
        status = await api.patch_status("acme", "minimal", new, previous=status)
    assert _requests(regions, "GET") == gets  # no re-read
    assert _requests(regions, "PATCH") == patches + 3
    stored = regions.a.store.get("dr.openova.io", "continuums", "acme", "minimal")
    assert stored is not None
    assert decode_status(stored).lease_holder == "c"


async def test_a_foreign_write_in_between_costs_a_reread_and_loses_nothing(
    regions: Regions,
) -> None:
    regions.a.apply(_minimal())
    ours = ContinuumApi(regions.clients.for_region(REGION_A))
    other = ContinuumApi(regions.clients.for_region(REGION_A))
    mine = await ours.update_status(
        "acme", "minimal", lambda s: msgspec.structs.replace(s, phase="Healthy")
    )
    await other.update_status(
        "acme", "minimal", lambda s: msgspec.structs.replace(s, spec_fingerprint="f" * 16)
    )
    result = await ours.patch_status(
        "acme", "minimal", msgspec.structs.replace(mine, lease_holder="x"), previous=mine
    )
    assert result.lease_holder == "x"
    assert result.spec_fingerprint == "f" * 16
    assert result.phase == "Healthy"


async def test_region_clients_do_not_read_the_proxy_environment_per_request(
    regions: Regions,
) -> None:
    session = regions.clients.for_region(REGION_A).api.rest_client.pool_manager
    assert session.trust_env is False


async def test_a_first_write_on_a_version_the_watch_saw_is_one_patch(regions: Regions) -> None:
    regions.a.apply(_minimal())
    api = ContinuumApi(regions.clients.for_region(REGION_A))
    raw = await api.get_raw("acme", "minimal")
    api.seed_version("acme", "minimal", raw["metadata"]["resourceVersion"])
    gets, patches = _requests(regions, "GET"), _requests(regions, "PATCH")
    empty = ContinuumStatus()
    stored = await api.patch_status(
        "acme", "minimal", msgspec.structs.replace(empty, phase="Healthy"), previous=empty
    )
    assert stored.phase == "Healthy"
    assert (_requests(regions, "GET"), _requests(regions, "PATCH")) == (gets, patches + 1)


async def test_a_stale_seeded_version_costs_a_reread_and_loses_nothing(regions: Regions) -> None:
    regions.a.apply(_minimal())
    api, other = (ContinuumApi(regions.clients.for_region(REGION_A)) for _ in range(2))
    raw = await api.get_raw("acme", "minimal")
    await other.update_status(
        "acme", "minimal", lambda s: msgspec.structs.replace(s, spec_fingerprint="f" * 16)
    )
    api.seed_version("acme", "minimal", raw["metadata"]["resourceVersion"])
    empty = ContinuumStatus()
    stored = await api.patch_status(
        "acme", "minimal", msgspec.structs.replace(empty, phase="Healthy"), previous=empty
    )
    assert stored.phase == "Healthy"
    assert stored.spec_fingerprint == "f" * 16
