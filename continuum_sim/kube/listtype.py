"""``x-kubernetes-list-type: set|map``: the uniqueness the API server enforces.

A ``set`` must not hold the same item twice; a ``map`` must not hold two items with the same
``x-kubernetes-list-map-keys``. Every later occurrence is one ``Duplicate value`` cause at
its index (``spec.hotStandbyRegions[1]: Duplicate value: "b"``), as the API server reports
it. On an update, a list equal to the stored one is not checked again (ratcheting).
"""

from __future__ import annotations

import json
from typing import Any

from continuum_sim.kube.status import field_cause

_MISSING = object()


def _go_value(value: Any) -> str:
    """How Go's ``%#v`` prints a JSON value in a ``Duplicate value`` message."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(k)}:{_go_value(v)}" for k, v in value.items())
        return "map[string]interface {}{" + inner + "}"
    return json.dumps(value)


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def duplicates(
    schema: dict[str, Any], value: Any, old: Any = _MISSING, path: str = ""
) -> list[dict[str, str]]:
    """A ``FieldValueDuplicate`` cause for every repeated set item or map key under
    ``value`` (checked against ``schema``); ``old`` is the stored value on an update."""
    causes: list[dict[str, str]] = []
    _walk(schema, value, old, path, causes)
    return causes


def _walk(
    schema: dict[str, Any], value: Any, old: Any, path: str, out: list[dict[str, str]]
) -> None:
    if old is not _MISSING and old == value:
        return
    if isinstance(value, dict):
        props: dict[str, Any] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key, additional if isinstance(additional, dict) else None)
            if isinstance(sub, dict):
                before = old.get(key, _MISSING) if isinstance(old, dict) else _MISSING
                _walk(sub, item, before, f"{path}.{key}" if path else key, out)
    elif isinstance(value, list):
        _check_list(schema, value, path, out)
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                _walk(items, item, _MISSING, f"{path}[{index}]", out)


def _check_list(
    schema: dict[str, Any], value: list[Any], path: str, out: list[dict[str, str]]
) -> None:
    list_type = schema.get("x-kubernetes-list-type")
    if list_type not in ("set", "map"):
        return
    keys = list(schema.get("x-kubernetes-list-map-keys") or ())
    seen: set[str] = set()
    for index, item in enumerate(value):
        if list_type == "map":
            if not isinstance(item, dict):
                continue
            shown: Any = {k: item[k] for k in keys if k in item}
        else:
            shown = item
        marker = _key(shown)
        if marker in seen:
            out.append(
                field_cause(
                    f"{path}[{index}]",
                    f"Duplicate value: {_go_value(shown)}",
                    reason="FieldValueDuplicate",
                )
            )
        seen.add(marker)
