"""The PATCH content types the API server accepts, applied to a plain JSON object.

- ``application/merge-patch+json``: RFC 7386 (``null`` deletes, lists are replaced);
- ``application/json-patch+json``: RFC 6902 through the ``jsonpatch`` library;
- ``application/strategic-merge-patch+json``: built-in kinds only (custom resources answer
  415, as the real API server does); maps merge, ``$patch: delete|replace`` directives are
  honoured, and the few list fields of the served built-ins that carry a patch strategy merge
  by their key (``metadata.finalizers`` as a set, ``metadata.ownerReferences`` by ``uid``);
- ``application/apply-patch+yaml``: server-side apply, approximated by a merge patch of the
  applied configuration (no field ownership tracking).

Every function returns a new object and never mutates its inputs.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import msgspec
import yaml

from continuum_sim.kube.status import StatusError, bad_request

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
CUSTOM_PATCH_TYPES = (JSON_PATCH, MERGE, APPLY)
ALL_PATCH_TYPES = (*CUSTOM_PATCH_TYPES, STRATEGIC)

# Strategic-merge list strategies of the served built-in kinds: path -> merge key
# ("" = merge primitive lists as a set).
_LIST_MERGE_KEYS: dict[tuple[str, ...], str] = {
    ("metadata", "finalizers"): "",
    ("metadata", "ownerReferences"): "uid",
    ("status", "conditions"): "type",
}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _strategic(target: Any, patch: Any, path: tuple[str, ...]) -> Any:
    if not isinstance(patch, dict):
        if isinstance(patch, list) and isinstance(target, list) and path in _LIST_MERGE_KEYS:
            return _merge_list(target, patch, _LIST_MERGE_KEYS[path])
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
            continue
        merged = _strategic(result.get(key), value, (*path, key))
        if merged is None:
            result.pop(key, None)
        else:
            result[key] = merged
    return result


def _merge_list(target: list[Any], patch: list[Any], key: str) -> list[Any]:
    if not key:
        out = list(target)
        out.extend(v for v in patch if v not in out)
        return out
    out = [copy.deepcopy(item) for item in target]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise bad_request(f"merge key {key!r} missing from list item {item!r}")
        index = next(
            (i for i, cur in enumerate(out) if isinstance(cur, dict) and cur.get(key) == item[key]),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                del out[index]
        elif index is None:
            out.append({k: v for k, v in item.items() if k != "$patch"})
        else:
            out[index] = _strategic(out[index], item, ())
    return out


def strategic_merge_patch(target: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Strategic merge as far as the served built-in kinds need it."""
    if not isinstance(patch, dict):
        raise bad_request("strategic merge patch must be a JSON object")
    result = _strategic(target, patch, ())
    return result if isinstance(result, dict) else {}


def decode_patch_body(content_type: str, raw: bytes) -> Any:
    """Parse the body of a PATCH according to its media type; 400 when it does not parse."""
    try:
        if content_type == APPLY:
            return yaml.safe_load(raw.decode())
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise bad_request(f"error decoding patch: {exc}") from exc


def apply_patch(
    target: dict[str, Any],
    patch: Any,
    *,
    content_type: str,
    custom: bool,
) -> dict[str, Any]:
    """Apply one decoded ``patch`` of ``content_type`` to ``target``.

    Raises StatusError 415 for an unknown type (or strategic merge on a custom resource),
    400 for a patch of the wrong shape, 422 when a JSON patch operation cannot apply.
    """
    accepted = CUSTOM_PATCH_TYPES if custom else ALL_PATCH_TYPES
    if content_type not in accepted:
        raise StatusError(
            415,
            f"the body of the request was in an unknown format - accepted media types "
            f"include: {', '.join(accepted)}",
        )
    if content_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("json patch must be a JSON array of operations")
        try:
            result = jsonpatch.JsonPatch(patch).apply(target)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise StatusError(
                422, f"the server rejected our request due to an error: {exc}"
            ) from exc
        except (TypeError, KeyError, ValueError) as exc:
            raise bad_request(f"invalid json patch: {exc}") from exc
        if not isinstance(result, dict):
            raise bad_request("json patch must leave an object")
        return result
    if content_type == STRATEGIC:
        return strategic_merge_patch(target, patch)
    if not isinstance(patch, dict):
        raise bad_request("merge patch must be a JSON object")
    result = merge_patch(target, patch)
    assert isinstance(result, dict)
    return result
