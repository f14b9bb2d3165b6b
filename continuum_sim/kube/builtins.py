"""Server-side behaviour of the built-in kinds: what the API server fills in or refuses."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from continuum.ports import Clock
from continuum_sim.kube.crds import CRD_GROUP_RESOURCE, crd_admission
from continuum_sim.kube.resources import GroupResource
from continuum_sim.kube.status import field_cause, invalid
from continuum_sim.kube.store import Admission


def _admit_namespace(new: dict[str, Any], old: dict[str, Any] | None) -> None:
    spec = new.setdefault("spec", {})
    spec.setdefault("finalizers", ["kubernetes"])
    status = new.setdefault("status", {})
    terminating = bool(new.get("metadata", {}).get("deletionTimestamp"))
    status["phase"] = "Terminating" if terminating else "Active"


def _admit_secret(new: dict[str, Any], old: dict[str, Any] | None) -> None:
    """``stringData`` is folded into ``data`` (base64); ``data`` must be base64."""
    data = new.get("data") or {}
    name = str(new.get("metadata", {}).get("name", ""))
    for key, value in data.items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise invalid(
                kind="Secret",
                group="",
                name=name,
                causes=[field_cause(f"data[{key}]", "Invalid value: illegal base64 data")],
            ) from None
    string_data = new.pop("stringData", None) or {}
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data:
        new["data"] = data
    new.setdefault("type", "Opaque")


def builtin_admission(clock: Clock) -> dict[GroupResource, Admission]:
    """The admission hooks of the built-in kinds, keyed by (group, plural)."""
    return {
        ("", "namespaces"): _admit_namespace,
        ("", "secrets"): _admit_secret,
        CRD_GROUP_RESOURCE: crd_admission(clock),
    }
