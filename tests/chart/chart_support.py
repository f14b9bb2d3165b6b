"""Helpers of the chart suite (imported by its test modules and its conftest): where the chart
is, the values that enable it, and a parsed rendering."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "chart"
RELEASE = "bp-continuum"
NAMESPACE = "openova-system"

# The smallest set of values with which the enabled chart renders: the region of this
# installation and a DNS writer endpoint are required, everything else has a default.
ENABLED_VALUES: dict[str, Any] = {
    "continuum": {
        "enabled": True,
        "region": "eu-west",
        "pdmURL": "http://pool-domain-manager.openova-system.svc.cluster.local:8080",
        "natsURL": "nats://nats.openova-system.svc.cluster.local:4222",
    }
}


@dataclass(frozen=True)
class Rendered:
    """One rendering of the chart: every manifest object and the NOTES text."""

    objects: list[dict[str, Any]]
    notes: str

    def kinds(self) -> list[str]:
        return sorted(str(o["kind"]) for o in self.objects)

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [o for o in self.all(kind) if name is None or o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected exactly one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def container(self) -> dict[str, Any]:
        containers = self.one("Deployment")["spec"]["template"]["spec"]["containers"]
        assert len(containers) == 1
        return dict(containers[0])

    def env(self) -> dict[str, dict[str, Any]]:
        """The controller container's env entries by name (each name appears once)."""
        entries = self.container()["env"]
        names = [e["name"] for e in entries]
        assert len(names) == len(set(names)), f"duplicate env names: {names}"
        return {e["name"]: e for e in entries}


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``override`` into a copy of ``base`` (how Helm coalesces ``-f`` files)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def render_chart(chart: helm.Chart, values: dict[str, Any]) -> Rendered:
    """Render ``chart`` with ``values`` as ``helm install bp-continuum ./chart -n
    openova-system`` would, and parse every manifest."""
    manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects: list[dict[str, Any]] = []
    notes = ""
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return Rendered(objects=objects, notes=notes)
