"""A CRD's structural ``openAPIV3Schema``: pruning, defaulting and validation.

The API server's order is kept: unknown fields are pruned (except under
``x-kubernetes-preserve-unknown-fields``), and so are ``null`` values of fields that are not
``nullable``; then ``default`` values are applied to absent fields, then the object is
validated: the schema, then ``x-kubernetes-list-type`` uniqueness (``listtype.py``), then the
CEL rules (``cel.py``), which are skipped (with one cause saying so) when the object has a
type, required, enum or size error, as on a real server.

Schema validation runs ``jsonschema``'s Draft 4 validator (OpenAPI 3.0 keeps Draft 4's
boolean ``exclusiveMaximum``) over a translation of the schema: ``nullable`` admits
``null``, ``x-kubernetes-int-or-string`` admits integers and strings, other
``x-kubernetes-*`` keys and ``format`` are informational. Errors are worded as the API
server words them: the cause's ``field`` holds the path and its ``message`` the rest.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from jsonschema import Draft4Validator, ValidationError

from continuum_sim.kube import listtype
from continuum_sim.kube.cel import CelValidator
from continuum_sim.kube.status import field_cause

_SKIPPED_KEYS = frozenset(
    {"nullable", "default", "description", "example", "externalDocs", "format"}
)
_ROOT_KEPT = ("apiVersion", "kind", "metadata")


def _translate(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in _SKIPPED_KEYS:
            continue
        if key in ("properties", "patternProperties") and isinstance(value, dict):
            out[key] = {name: _translate(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _translate(value)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
            out[key] = [_translate(sub) for sub in value]
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}, *out.get("anyOf", [])]
    if node.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_MISSING = object()

# Schema errors after which the API server does not run the CEL rules.
_BLOCKING = frozenset(
    {
        "FieldValueNotSupported",
        "FieldValueRequired",
        "FieldValueTooLong",
        "FieldValueTooMany",
        "FieldValueTypeInvalid",
    }
)
# The API server's own wording, path included: a nil field.Path prints as "<nil>".
_UNCHECKED = field_cause(
    "<nil>",
    'Invalid value: "null": some validation rules were not checked because the object was '
    "invalid; correct the existing errors to complete validation",
)


def _at(obj: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        in_dict = isinstance(obj, dict) and isinstance(part, str) and part in obj
        in_list = isinstance(obj, list) and isinstance(part, int) and 0 <= part < len(obj)
        if not (in_dict or in_list):
            return _MISSING
        obj = obj[part]
    return obj


def _unchanged(old: Any, new: Any, path: tuple[Any, ...]) -> bool:
    """Whether the value at ``path`` exists in ``old`` and equals ``new``'s."""
    before = _at(old, path)
    return before is not _MISSING and before == _at(new, path)


def _ratcheted(old: Any, new: Any, error: ValidationError) -> bool:
    """An update's violation that was already there: the value is unchanged or, for a
    missing required field, it was missing before too."""
    path = tuple(error.absolute_path)
    if error.validator == "required":
        before = _at(old, path)
        if not isinstance(before, dict):
            return False
        required: Any = error.validator_value
        present: Any = error.instance or {}
        missing = [name for name in required if name not in present]
        return all(name not in before for name in missing)
    return _unchanged(old, new, path)


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return json.dumps(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _causes(error: ValidationError) -> list[dict[str, str]]:
    field = _path(error.absolute_path)
    where = field or "<root>"
    kind = str(error.validator)
    value: Any = error.instance
    limit: Any = error.validator_value
    schema: dict[str, Any] = dict(error.schema) if isinstance(error.schema, dict) else {}
    if kind == "required":
        missing = [name for name in limit if name not in (value or {})]
        return [
            field_cause(
                f"{field}.{name}" if field else name, "Required value", reason="FieldValueRequired"
            )
            for name in missing
        ]
    if kind == "enum":
        supported = ", ".join(json.dumps(v) for v in limit)
        return [
            field_cause(
                where,
                f"Unsupported value: {_show(value)}: supported values: {supported}",
                reason="FieldValueNotSupported",
            )
        ]
    if kind == "type":
        wanted = limit if isinstance(limit, str) else "/".join(limit)
        actual = _json_type(value)
        return [
            field_cause(
                where,
                f'Invalid value: "{actual}": {where} in body must be of type {wanted}: "{actual}"',
                reason="FieldValueTypeInvalid",
            )
        ]
    if kind == "maxItems":
        return [
            field_cause(
                where,
                f"Too many: {len(value)}: must have at most {limit} items",
                reason="FieldValueTooMany",
            )
        ]
    if kind == "maxLength":
        return [
            field_cause(
                where, f"Too long: may not be longer than {limit}", reason="FieldValueTooLong"
            )
        ]
    exclusive = bool(schema.get("exclusiveMaximum" if kind == "maximum" else "exclusiveMinimum"))
    words = {
        "maximum": f"should be less than {'' if exclusive else 'or equal to '}{limit}",
        "minimum": f"should be greater than {'' if exclusive else 'or equal to '}{limit}",
        "pattern": f"should match '{limit}'",
        "minItems": f"should have at least {limit} items",
        "minLength": f"should be at least {limit} chars long",
        "minProperties": f"should have at least {limit} properties",
        "maxProperties": f"should have at most {limit} properties",
        "uniqueItems": "shouldn't contain duplicates",
        "multipleOf": f"should be a multiple of {limit}",
    }
    shown = len(value) if kind in ("minItems",) and isinstance(value, list) else _show(value)
    text = words.get(str(kind))
    if text is None:
        return [field_cause(where, f"Invalid value: {_show(value)}: {error.message}")]
    return [field_cause(where, f"Invalid value: {shown}: {where} in body {text}")]


class CompiledSchema:
    """One version's ``openAPIV3Schema``, ready to prune, default and validate objects."""

    def __init__(self, openapi: dict[str, Any]) -> None:
        self.source = openapi
        root = copy.deepcopy(openapi)
        # ObjectMeta is validated by the server itself, not by the CRD schema.
        (root.get("properties") or {}).pop("metadata", None)
        self._validator = Draft4Validator(_translate(root))
        self._cel = CelValidator(openapi)

    def prune(self, obj: dict[str, Any]) -> list[str]:
        """Drop, in place, every field the schema does not declare, and every ``null`` of a
        declared field that is not ``nullable``; returns the paths of the unknown ones."""
        pruned: list[str] = []
        _prune(self.source, obj, (), pruned, root=True)
        return pruned

    def apply_defaults(self, obj: dict[str, Any]) -> None:
        """Set, in place, every absent field that has a ``default`` under a present parent."""
        _default(self.source, obj, root=True)

    def validate(
        self, obj: dict[str, Any], old: dict[str, Any] | None = None
    ) -> list[dict[str, str]]:
        """Every violation as a ``Status`` cause (empty when valid): the schema's (sorted by
        field), then list-type duplicates, then failed CEL rules.

        With ``old`` (an update), violations at values the update left unchanged are
        ratcheted away, as the API server does since 1.30 (CRDValidationRatcheting): a
        status write to an object whose stored spec became invalid still succeeds.
        """
        causes: list[dict[str, str]] = []
        for error in self._validator.iter_errors(obj):
            if old is not None and _ratcheted(old, obj, error):
                continue
            causes.extend(_causes(error))
        causes.sort(key=lambda c: (c["field"], c["message"]))
        causes.extend(listtype.duplicates(self.source, obj, old if old is not None else _MISSING))
        if self._cel.root is not None and any(c["reason"] in _BLOCKING for c in causes):
            causes.append(dict(_UNCHECKED))
        else:
            causes.extend(self._cel.validate(obj, old))
        return causes


def _prune(
    schema: dict[str, Any],
    value: Any,
    path: tuple[str | int, ...],
    pruned: list[str],
    *,
    root: bool = False,
) -> None:
    if isinstance(value, dict):
        props: dict[str, Any] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        keep_any = bool(schema.get("x-kubernetes-preserve-unknown-fields")) or isinstance(
            additional, dict
        )
        kept = _ROOT_KEPT if root or schema.get("x-kubernetes-embedded-resource") else ()
        for key in list(value):
            if key in kept:
                continue
            sub = props.get(key, additional if isinstance(additional, dict) else None)
            if value[key] is None and isinstance(sub, dict) and not sub.get("nullable"):
                del value[key]  # the API server prunes a null it may not store, then defaults
                continue
            if key in props:
                _prune(props[key], value[key], (*path, key), pruned)
            elif isinstance(additional, dict):
                _prune(additional, value[key], (*path, key), pruned)
            elif not keep_any:
                del value[key]
                pruned.append(_path((*path, key)))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _prune(schema["items"], item, (*path, index), pruned)


def _default(schema: dict[str, Any], value: Any, *, root: bool = False) -> None:
    if isinstance(value, dict):
        props: dict[str, Any] = schema.get("properties") or {}
        for key, sub in props.items():
            if root and key == "metadata":
                continue
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                _default(sub, value[key])
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            for key, item in value.items():
                if key not in props:
                    _default(additional, item)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _default(schema["items"], item)
