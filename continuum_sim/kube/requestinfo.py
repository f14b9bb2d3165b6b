"""Parse a request path into (verb, group, version, namespace, resource, name, subresource)
exactly as the API server's RequestInfo resolver does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
TRUE_VALUES = frozenset({"true", "True", "1"})


@dataclass(frozen=True)
class RequestInfo:
    """What a request addresses. ``is_resource`` is False for discovery and other paths."""

    path: str
    verb: str
    is_resource: bool = False
    group: str = ""
    version: str = ""
    namespace: str | None = None
    resource: str = ""
    name: str = ""
    subresource: str = ""


def parse_request_info(method: str, path: str, query: Any) -> RequestInfo:
    """Resolve ``method path?query`` to a :class:`RequestInfo`. ``query`` is a mapping."""
    lower = method.lower()
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) < 2 or parts[0] not in ("api", "apis"):
        return RequestInfo(path=path, verb=lower)
    if parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 3:
            return RequestInfo(path=path, verb=lower)
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:
        return RequestInfo(path=path, verb=lower, group=group, version=version)
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
        else:
            rest = ["namespaces", *rest[1:]]
            namespace = None
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if resource == "namespaces" and name and namespace is None:
        namespace = None
    verb = {
        "post": "create",
        "put": "update",
        "patch": "patch",
        "delete": "delete" if name else "deletecollection",
        "get": "get",
        "head": "get",
    }.get(lower, lower)
    if verb == "get" and not name:
        verb = "watch" if query.get("watch", "") in TRUE_VALUES else "list"
    return RequestInfo(
        path=path,
        verb=verb,
        is_resource=True,
        group=group,
        version=version,
        namespace=namespace,
        resource=resource,
        name=name,
        subresource=subresource,
    )
