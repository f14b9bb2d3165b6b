"""The emulator ratchets CRD validation on update, as the API server does since 1.30: a
write that leaves an already-invalid value unchanged (a status write to a CR whose stored
spec is invalid) is accepted; a write that introduces or changes an invalid value is not."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from continuum_sim.kube.emulator import KubeEmulator, bundled_crd_paths

pytestmark = pytest.mark.anyio


def _cr(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "applicationRef": "shop",
        "primaryRegion": "region-a",
        "hotStandbyRegions": ["region-b"],
        "leaseClient": {"kind": "nats-kv", "config": {"ttlSeconds": 30, "renewSeconds": 10}},
        "cnpgPair": {"name": "shop-pg"},
    }
    base.update(spec)
    return {
        "apiVersion": "dr.openova.io/v1",
        "kind": "Continuum",
        "metadata": {"name": "x", "namespace": "shop"},
        "spec": {k: v for k, v in base.items() if v is not None},
    }


async def _causes(new: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    async with KubeEmulator(region="a", crd_paths=bundled_crd_paths()) as emulator:
        rt = emulator.resource_type("dr.openova.io", "v1", "continuums")
        assert rt.schema is not None
        causes = rt.schema.validate(copy.deepcopy(new), old)
        # "<nil>" says the CEL rules were not run because of a schema error.
        return [c["field"] for c in causes if c["field"] != "<nil>"]


async def test_unchanged_invalid_value_is_ratcheted_on_update() -> None:
    old = _cr(autoFailover="yes")
    new = copy.deepcopy(old)
    new["status"] = {"phase": "Failed"}
    assert await _causes(new, old) == []
    assert await _causes(new, None) == ["spec.autoFailover"]


async def test_changed_invalid_value_is_still_refused_on_update() -> None:
    assert await _causes(_cr(autoFailover="no"), _cr(autoFailover="yes")) == ["spec.autoFailover"]


async def test_required_field_missing_before_and_after_is_ratcheted() -> None:
    old = _cr(applicationRef=None)
    assert await _causes(copy.deepcopy(old), old) == []
    assert await _causes(_cr(applicationRef=None), _cr()) == ["spec.applicationRef"]
