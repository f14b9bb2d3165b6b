"""Label and field selectors, parsed and matched as the API server does.

Label selector grammar: ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``,
``k`` (exists), ``!k`` (does not exist), joined by commas. Field selectors support
``metadata.name`` and ``metadata.namespace`` with ``=``, ``==`` and ``!=``. A malformed
selector raises :class:`~continuum_sim.kube.status.StatusError` 400, never matches everything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from continuum_sim.kube.status import bad_request

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_.\-/]+)\s+(in|notin)\s*\(([^)]*)\)\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9_.\-/]+)\s*(==|!=|=)\s*([A-Za-z0-9_.\-]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_.\-/]+)\s*$")

FIELD_LABELS = frozenset({"metadata.name", "metadata.namespace"})


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        # "!=" and "notin" match objects without the key, as the API server does.
        return not present or value not in self.values


def _split_clauses(text: str) -> list[str]:
    """Split on commas that are not inside ``( ... )``."""
    clauses: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            clauses.append("".join(current))
            current = []
        else:
            current.append(char)
    clauses.append("".join(current))
    return [c for c in (c.strip() for c in clauses) if c]


def parse_label_selector(text: str | None) -> tuple[Requirement, ...]:
    """Parse a ``labelSelector`` query value; empty or ``None`` selects everything."""
    if not text:
        return ()
    requirements: list[Requirement] = []
    for clause in _split_clauses(text):
        if m := _SET_RE.match(clause):
            if m.group(1):
                raise bad_request(f"unable to parse requirement: {clause!r}")
            values = frozenset(v.strip() for v in m.group(4).split(",") if v.strip())
            requirements.append(Requirement(m.group(2), m.group(3), values))
        elif m := _EQ_RE.match(clause):
            op = "!=" if m.group(2) == "!=" else "="
            requirements.append(Requirement(m.group(1), op, frozenset({m.group(3)})))
        elif m := _EXISTS_RE.match(clause):
            requirements.append(Requirement(m.group(2), "!exists" if m.group(1) else "exists"))
        else:
            raise bad_request(f"unable to parse requirement: {clause!r}")
    return tuple(requirements)


def parse_field_selector(text: str | None) -> tuple[tuple[str, str, str], ...]:
    """Parse a ``fieldSelector`` into ``(field, op, value)`` triples (op ``=`` or ``!=``)."""
    if not text:
        return ()
    out: list[tuple[str, str, str]] = []
    for clause in _split_clauses(text):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*?)\s*$", clause)
        if not m:
            raise bad_request(f"invalid field selector: {clause!r}")
        field, op, value = m.group(1), m.group(2), m.group(3)
        if field not in FIELD_LABELS:
            raise bad_request(f'field label not supported: "{field}"')
        out.append((field, "!=" if op == "!=" else "=", value))
    return tuple(out)


ObjectFilter = Callable[[Mapping[str, Any]], bool]


def build_filter(
    *,
    namespace: str | None,
    label_selector: str | None,
    field_selector: str | None,
) -> ObjectFilter:
    """A predicate over stored objects combining namespace and both selectors.
    Raises StatusError 400 for a malformed selector."""
    labels = parse_label_selector(label_selector)
    fields = parse_field_selector(field_selector)

    def matches(obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        if namespace is not None and meta.get("namespace", "") != namespace:
            return False
        for field, op, value in fields:
            actual = meta.get("name" if field == "metadata.name" else "namespace", "")
            if (actual == value) != (op == "="):
                return False
        if labels:
            obj_labels = meta.get("labels") or {}
            return all(r.matches(obj_labels) for r in labels)
        return True

    return matches
