"""Shared helpers of the emulator suite (importable; conftest only holds fixtures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TEST_CRD = Path(__file__).parent / "crds" / "continuum-test.yaml"
GROUP, VERSION, PLURAL = "dr.openova.io", "v1", "continuums"
MERGE = "application/merge-patch+json"


def continuum(name: str, *, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    """A valid Continuum body; keyword arguments override spec fields."""
    body_spec: dict[str, Any] = {
        "applicationRef": "shop",
        "primaryRegion": "hz-fsn-rtz-prod",
        "hotStandbyRegions": ["hz-hel-rtz-prod"],
        "leaseClient": {"kind": "k8s-lease", "config": {}},
    }
    body_spec.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Continuum",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body_spec,
    }
