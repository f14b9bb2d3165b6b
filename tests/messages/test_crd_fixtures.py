"""Every fixture CR is judged the same way by the CRD schema and by ``decode_continuum``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from continuum.errors import InvalidSpec
from continuum.messages.crd import Continuum, decode_continuum

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
VALID = sorted(FIXTURES.glob("continuum-*.yaml"))
INVALID = sorted((FIXTURES / "invalid").glob("continuum-invalid-*.yaml"))
CRD = yaml.safe_load((ROOT / "chart" / "crds" / "continuum.yaml").read_text())
SCHEMA: dict[str, Any] = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _schema_errors(obj: dict[str, Any]) -> list[str]:
    """Field paths of every jsonschema error, in ``spec.a.b[0]`` form."""
    paths = []
    for error in jsonschema.Draft7Validator(SCHEMA).iter_errors(obj):
        parts = list(error.absolute_path)
        if error.validator == "required":
            match = re.match(r"'([^']+)' is a required property", error.message)
            assert match is not None
            parts.append(match.group(1))
        text = ""
        for part in parts:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        paths.append(text)
    return paths


def _cel_fields(schema: dict[str, Any], path: str = "") -> set[str]:
    """Fields the API server checks beyond plain schema: CEL rules and list uniqueness."""
    found: set[str] = set()
    for rule in schema.get("x-kubernetes-validations", []):
        found.add(path + rule.get("fieldPath", ""))
    if schema.get("x-kubernetes-list-type") in ("set", "map"):
        found.add(path)
    for name, sub in schema.get("properties", {}).items():
        found |= _cel_fields(sub, f"{path}.{name}" if path else name)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found |= _cel_fields(schema[key], path)
    return found


def _expectation(path: Path) -> tuple[str, bool]:
    text = path.read_text()
    match = re.search(r"^# expect: (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{path.name} lacks '# expect: <field>'"
    return match.group(1), "# cross-field:" in text


def test_there_are_enough_fixtures() -> None:
    assert len(VALID) >= 4
    assert len(INVALID) >= 10


@pytest.mark.parametrize("path", VALID, ids=[p.name for p in VALID])
def test_valid_fixture_passes_the_crd_schema_and_decodes(path: Path) -> None:
    obj = yaml.safe_load(path.read_text())
    assert _schema_errors(obj) == []
    cr = decode_continuum(obj)
    assert isinstance(cr, Continuum)
    assert cr.metadata.name == obj["metadata"]["name"]
    assert cr.spec.primary_region == obj["spec"]["primaryRegion"]


@pytest.mark.parametrize("path", INVALID, ids=[p.name for p in INVALID])
def test_invalid_fixture_is_rejected_by_both_naming_the_same_field(path: Path) -> None:
    field, cross_field = _expectation(path)
    obj = yaml.safe_load(path.read_text())
    with pytest.raises(InvalidSpec) as caught:
        decode_continuum(obj)
    assert caught.value.field == field
    if cross_field:
        # jsonschema cannot run CEL: the CRD must carry a rule (or list-type) for the field.
        assert _schema_errors(obj) == []
        assert field in _cel_fields(SCHEMA)
    else:
        assert field in _schema_errors(obj)


def test_decoding_json_bytes_gives_the_same_object_as_decoding_the_dict() -> None:
    import msgspec

    obj = yaml.safe_load((FIXTURES / "continuum-cnpg-pair.yaml").read_text())
    assert decode_continuum(msgspec.json.encode(obj)) == decode_continuum(obj)


def test_a_decoded_cr_re_encodes_to_a_schema_valid_object() -> None:
    import msgspec

    for path in VALID:
        cr = decode_continuum(yaml.safe_load(path.read_text()))
        assert _schema_errors(msgspec.to_builtins(cr)) == []
