"""values.schema.json rejects unknown keys and wrong types; values.yaml, its schema and the
documented values table describe the same keys."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import helm_python as helm
import pytest
import yaml
from chart_support import CHART_DIR, ENABLED_VALUES, REPO_ROOT, merge

SCHEMA: dict[str, Any] = json.loads((CHART_DIR / "values.schema.json").read_text())
VALUES_TEXT = (CHART_DIR / "values.yaml").read_text()
VALUES: dict[str, Any] = yaml.safe_load(VALUES_TEXT)


def _load_generator() -> ModuleType:
    path = REPO_ROOT / "scripts" / "gen_values_table.py"
    spec = importlib.util.spec_from_file_location("gen_values_table", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def test_default_values_satisfy_the_schema(chart: helm.Chart) -> None:
    chart.validate_schema(VALUES)
    chart.validate_schema(ENABLED_VALUES)


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"continum": {"enabled": True}}, "continum"),
        ({"continuum": {"enable": True}}, "enable"),
        ({"continuum": {"api": {"prot": 8082}}}, "prot"),
        ({"continuum": {"api": {"tokenSecretRef": {"name": "t", "kee": "token"}}}}, "kee"),
        ({"continuum": {"health": {"postSwitchoverDelay": 30}}}, "postSwitchoverDelay"),
        ({"networkPolicy": {"apiFrom": {"namespaceSelector": {"matchLabel": {}}}}}, "matchLabel"),
        ({"serviceMonitor": {"enable": True}}, "enable"),
    ],
)
def test_schema_rejects_a_misspelt_key(
    chart: helm.Chart, values: dict[str, Any], where: str
) -> None:
    with pytest.raises(helm.HelmValuesError, match=f"additional propert.*{where}"):
        chart.validate_schema(values)


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"continuum": {"enabled": "true"}}, "/continuum/enabled"),
        ({"continuum": {"api": {"port": "8082"}}}, "/continuum/api/port"),
        ({"continuum": {"api": {"port": 70000}}}, "/continuum/api/port"),
        ({"continuum": {"replicas": 0}}, "/continuum/replicas"),
        ({"continuum": {"health": {"postSwitchoverDelaySeconds": -1}}}, "postSwitchoverDelay"),
        ({"continuum": {"health": {"postSwitchoverDelaySeconds": "30s"}}}, "postSwitchoverDelay"),
        ({"continuum": {"health": {"vantages": "8.8.8.8"}}}, "/continuum/health/vantages"),
        ({"continuum": {"dnsWriter": "route53"}}, "/continuum/dnsWriter"),
        ({"continuum": {"log": {"level": "verbose"}}}, "/continuum/log/level"),
        ({"continuum": {"image": {"tag": "latest"}}}, "/continuum/image/tag"),
        ({"continuum": {"kubeconfig": {"regionContexts": ["a"]}}}, "regionContexts"),
        ({"networkPolicy": {"enabled": 1}}, "/networkPolicy/enabled"),
    ],
)
def test_schema_rejects_a_wrong_type_or_value(
    chart: helm.Chart, values: dict[str, Any], where: str
) -> None:
    with pytest.raises(helm.HelmValuesError, match=where):
        chart.validate_schema(values)


def test_rendering_with_a_misspelt_key_fails_like_helm_install(chart: helm.Chart) -> None:
    values = merge(ENABLED_VALUES, {"continuum": {"api": {"tokenSecretref": {"name": "t"}}}})
    with pytest.raises(helm.HelmValuesError, match="tokenSecretref"):
        chart.render(values, name="bp-continuum", namespace="openova-system")


def _object_schemas(node: Any, path: str = "#") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            found.append((path, node))
        for key, sub in node.items():
            found.extend(_object_schemas(sub, f"{path}/{key}"))
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            found.extend(_object_schemas(sub, f"{path}/{i}"))
    return found


def test_every_object_with_known_properties_forbids_others() -> None:
    objects = _object_schemas(SCHEMA)
    assert len(objects) > 20
    for path, node in objects:
        assert node.get("additionalProperties") is False, path


def test_every_schema_key_has_a_default_and_a_description() -> None:
    # rows() walks the schema and raises KeyError naming a key without a value in
    # values.yaml or without a "# --" comment.
    rows = gen.rows(VALUES, SCHEMA, gen.descriptions(VALUES_TEXT))
    assert len(rows) > 40


def test_every_value_in_values_yaml_is_a_documented_table_row() -> None:
    docs = gen.descriptions(VALUES_TEXT)
    rows = {row.key for row in gen.rows(VALUES, SCHEMA, docs)}

    def leaves(node: dict[str, Any], prefix: str) -> set[str]:
        found: set[str] = set()
        for name, sub in node.items():
            path = prefix + name
            if path in rows:
                found.add(path)
            elif isinstance(sub, dict) and sub:
                found |= leaves(sub, f"{path}.")
            else:
                found.add(path)
        return found

    assert leaves(VALUES, "") == rows
    assert all(docs[key] for key in rows)


def test_chart_readme_values_table_is_current() -> None:
    readme = (CHART_DIR / "README.md").read_text()
    assert gen.replace_table(readme, gen.render_table(CHART_DIR)) == readme, (
        "run: python scripts/gen_values_table.py --write chart/README.md"
    )


def test_generator_check_mode_flags_a_stale_table(tmp_path: Path) -> None:
    stale = tmp_path / "README.md"
    stale.write_text(f"# x\n{gen.START}\n| old |\n{gen.END}\n")
    assert gen.main(["--check", str(stale)]) == 1
    assert gen.main(["--write", str(stale)]) == 0
    assert gen.main(["--check", str(stale)]) == 0
    assert "`continuum.api.port` | integer | `8082`" in stale.read_text()
