#!/usr/bin/env python3
"""Generate the values table of the bp-continuum chart from its own sources of truth.

Descriptions come from the ``# --`` comments in ``chart/values.yaml`` (a comment block directly
above a key, continued by further ``#`` lines); defaults from the YAML values themselves; types
the nesting from ``chart/values.schema.json``: an object the schema lists ``properties`` for is a
group of values unless it carries a ``# --`` comment itself, in which case it is one value (a
label selector, ``resources``). So the table cannot drift from the chart.

Usage:
    gen_values_table.py                 print the Markdown table
    gen_values_table.py --write FILE    replace the table between the markers in FILE
    gen_values_table.py --check FILE    exit 1 when the table in FILE is not current

The markers are ``<!-- values-table:start -->`` and ``<!-- values-table:end -->``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART_DIR = Path(__file__).resolve().parents[1] / "chart"
START = "<!-- values-table:start -->"
END = "<!-- values-table:end -->"

_KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z0-9_.-]+):(\s|$)")
_DOC_START = re.compile(r"^\s*#\s?--\s?(?P<text>.*)$")
_DOC_MORE = re.compile(r"^\s*#\s?(?P<text>.*)$")


@dataclass(frozen=True)
class Row:
    """One line of the table: a value a user sets as a whole."""

    key: str
    type: str
    default: Any
    description: str


def descriptions(values_text: str) -> dict[str, str]:
    """Map dotted key path → its ``# --`` description, for every documented key.

    A blank line between a comment and a key detaches the comment; comments not starting with
    ``# --`` (file headers) are ignored. Keys inside flow-style values are not seen.
    """
    found: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    for line in values_text.splitlines():
        if not line.strip():
            pending = None
            continue
        if m := _DOC_START.match(line):
            pending = [m["text"].strip()]
            continue
        if m := _DOC_MORE.match(line):
            if pending is not None:
                pending.append(m["text"].strip())
            continue
        if m := _KEY.match(line):
            indent = len(m["indent"])
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, m["key"]))
            if pending is not None:
                found[".".join(k for _, k in stack)] = " ".join(pending).strip()
        pending = None
    return found


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    target: Any = schema
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return _resolve(schema, target)


def _type_name(schema: dict[str, Any], node: dict[str, Any]) -> str:
    node = _resolve(schema, node)
    if "enum" in node:
        return " \\| ".join(json.dumps(v) for v in node["enum"])
    kind = node.get("type", "any")
    if isinstance(kind, list):
        return " \\| ".join(kind)
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return "map"
    if kind == "array":
        item = node.get("items", {})
        return f"list of {_type_name(schema, item)}" if item else "list"
    return str(kind)


def rows(values: dict[str, Any], schema: dict[str, Any], docs: dict[str, str]) -> list[Row]:
    """Walk the schema: an object with fixed ``properties`` and no description of its own is a
    group of values (descended into); every other key is one row, documented as a whole (e.g.
    ``resources``, a label selector). A row missing from ``values`` or ``docs`` raises
    ``KeyError`` naming it."""
    out: list[Row] = []

    def walk(node: dict[str, Any], vals: dict[str, Any], prefix: str) -> None:
        for name, sub in node.get("properties", {}).items():
            path = f"{prefix}{name}"
            resolved = _resolve(schema, sub)
            is_group = resolved.get("type") == "object" and "properties" in resolved
            if is_group and path not in docs:
                walk(resolved, vals[name], f"{path}.")
                continue
            out.append(Row(path, _type_name(schema, sub), vals[name], docs[path]))

    walk(schema, values, "")
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table(chart_dir: Path = CHART_DIR) -> str:
    """The Markdown table for the chart in ``chart_dir``."""
    values_text = (chart_dir / "values.yaml").read_text()
    values = yaml.safe_load(values_text)
    schema = json.loads((chart_dir / "values.schema.json").read_text())
    lines = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    for row in rows(values, schema, descriptions(values_text)):
        default = json.dumps(row.default, separators=(", ", ": "))
        lines.append(
            f"| `{row.key}` | {row.type} | `{_cell(default)}` | {_cell(row.description)} |"
        )
    return "\n".join(lines) + "\n"


def replace_table(document: str, table: str) -> str:
    """``document`` with the text between the markers replaced by ``table``.

    Raises ``ValueError`` when the markers are missing."""
    start, end = document.find(START), document.find(END)
    if start < 0 or end < start:
        raise ValueError(f"markers {START} … {END} not found")
    return document[: start + len(START)] + "\n" + table + document[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", type=Path, metavar="FILE")
    group.add_argument("--check", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    table = render_table()
    if args.write is not None:
        args.write.write_text(replace_table(args.write.read_text(), table))
        return 0
    if args.check is not None:
        current = args.check.read_text()
        if replace_table(current, table) != current:
            print(f"{args.check}: values table is stale; run {sys.argv[0]} --write {args.check}")
            return 1
        return 0
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
