"""Server-side printing: the ``meta.k8s.io/v1`` ``Table`` kubectl asks for with
``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``.

Custom resources get ``Name`` plus their CRD's ``additionalPrinterColumns`` (or ``Name``,
``Age`` when none are declared); ``date`` columns print as an age (``5m``), as the API
server does.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from continuum_sim.kube.resources import PrinterColumn, ResourceType

_TOKEN = re.compile(
    r"""\.([A-Za-z0-9_\-]+)|\[(\d+)\]|\['([^']+)'\]|\[\?\(@\.([A-Za-z0-9_.\-]+)\s*==\s*["']([^"']*)["']\)\]"""
)

_AGE = PrinterColumn(name="Age", type="date", json_path=".metadata.creationTimestamp")


def wants_table(accept: str) -> bool:
    """Whether the client asked for a Table (kubectl get does)."""
    return "as=Table" in accept


def jsonpath(obj: Any, path: str) -> Any:
    """The first value at a simple JSONPath (``.a.b``, ``[0]``, ``['k.x']``,
    ``[?(@.type=="Ready")]``), or ``None`` when there is none."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    text = text.lstrip("$")
    current = obj
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            return None
        pos = match.end()
        key, index, quoted, filter_key, filter_value = match.groups()
        if key is not None or quoted is not None:
            current = current.get(key or quoted) if isinstance(current, dict) else None
        elif index is not None:
            i = int(index)
            current = current[i] if isinstance(current, list) and i < len(current) else None
        else:
            items = current if isinstance(current, list) else []
            current = next(
                (it for it in items if str(jsonpath(it, "." + filter_key)) == filter_value), None
            )
        if current is None:
            return None
    return current


def human_duration(seconds: float) -> str:
    """Kubernetes' ``duration.HumanDuration`` (``45s``, ``3m20s``, ``5h``, ``12d``)."""
    s = int(seconds)
    if s < 0:
        return "<invalid>"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    years = days // 365
    return f"{years}y{days % 365}d" if years < 8 and days % 365 else f"{years}y"


def _columns(rt: ResourceType) -> tuple[PrinterColumn, ...]:
    if rt.printer_columns:
        return rt.printer_columns
    return (_AGE,)


def _cell(column: PrinterColumn, obj: dict[str, Any], now: datetime) -> Any:
    value = jsonpath(obj, column.json_path)
    if value is None:
        return None
    if column.type == "date":
        try:
            when = datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return str(value)
        return human_duration((now - when).total_seconds())
    if column.type in ("integer", "number", "boolean"):
        return value
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def to_table(
    rt: ResourceType,
    items: list[dict[str, Any]],
    *,
    now: datetime,
    include_object: str = "Metadata",
    list_meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``Table`` of ``items``; each row carries the object (``includeObject=Object``), its
    metadata as ``PartialObjectMetadata`` (the default) or nothing (``None``)."""
    columns = _columns(rt)
    definitions = [
        {
            "name": "Name",
            "type": "string",
            "format": "name",
            "description": "Name must be unique within a namespace.",
            "priority": 0,
        }
    ] + [
        {
            "name": c.name,
            "type": c.type,
            "format": c.format,
            "description": c.description,
            "priority": c.priority,
        }
        for c in columns
    ]
    rows = []
    for obj in items:
        row: dict[str, Any] = {
            "cells": [obj["metadata"]["name"]] + [_cell(c, obj, now) for c in columns]
        }
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta or {},
        "columnDefinitions": definitions,
        "rows": rows,
    }
