"""The membership Leases on the wire: one ``coordination.k8s.io/v1`` Lease per replica,
labelled with its shard group, carrying in an annotation the member set that replica acts
on. Create, replace (compare-and-set on ``resourceVersion``), list by label, delete. No
membership logic lives here.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec
from kubernetes_asyncio import client as k8s

from continuum.leader.request_lane import RequestLane
from continuum.messages.coordination import LeaseObject, LeaseRecord

__all__ = [
    "API_URL_ANNOTATION",
    "GROUP_LABEL",
    "VIEW_ANNOTATION",
    "MemberLeases",
    "lease_name_for",
    "published_api_url",
    "published_view",
]

GROUP_LABEL: Final = "continuum.openova.io/shard-group"
VIEW_ANNOTATION: Final = "continuum.openova.io/shard-view"
"""JSON list of the member identities the replica acts on (its published view)."""
API_URL_ANNOTATION: Final = "continuum.openova.io/api-url"
"""Where the replica's HTTP API answers (``CONTINUUM_API_ADVERTISE_URL``); absent: nowhere a
peer could forward a request to."""
NAME_PREFIX: Final = "continuum-shard-"


class _LeaseList(msgspec.Struct):
    items: list[LeaseObject] = msgspec.field(default_factory=list)


def lease_name_for(identity: str) -> str:
    """The Lease name of the member ``identity``: a DNS subdomain (lower case, ``[a-z0-9.-]``,
    at most 253 characters). Raises ``ValueError`` when nothing usable is left."""
    tail = re.sub(r"[^a-z0-9.-]+", "-", identity.lower()).strip("-.")
    if not tail:
        raise ValueError(f"identity {identity!r} yields no valid Lease name")
    return (NAME_PREFIX + tail)[:253].rstrip("-.")


def published_view(lease: LeaseObject) -> tuple[str, ...]:
    """The member set a peer published in its Lease (empty when absent or malformed: a peer
    that published nothing readable claims nothing)."""
    raw = (lease.metadata.get("annotations") or {}).get(VIEW_ANNOTATION)
    if not isinstance(raw, str):
        return ()
    try:
        view = msgspec.json.decode(raw, type=list[str])
    except msgspec.DecodeError:
        return ()
    return tuple(view)


def published_api_url(lease: LeaseObject) -> str:
    """The API URL a peer published in its Lease (``""`` when none)."""
    raw = (lease.metadata.get("annotations") or {}).get(API_URL_ANNOTATION)
    return raw if isinstance(raw, str) else ""


class MemberLeases:
    """The Leases of shard group ``group`` in ``namespace``.

    Calls return ``(HTTP status, the object as answered or None)``; transport failures raise
    one of :data:`continuum.leader.lease_api.NETWORK_ERRORS`. Each request is bounded by
    ``request_timeout`` real seconds. With a ``lane`` the requests run on it (its thread,
    loop and client; ``api`` is then unused) and only the decoding on the caller's loop.
    """

    def __init__(
        self,
        api: k8s.ApiClient,
        *,
        group: str,
        namespace: str,
        request_timeout: float,
        lane: RequestLane | None = None,
    ) -> None:
        self._api = api
        self._lane = lane
        self.group = group
        self.namespace = namespace
        self._request_timeout = request_timeout

    def body(
        self,
        name: str,
        spec: LeaseRecord,
        view: tuple[str, ...],
        metadata: dict[str, Any],
        *,
        api_url: str = "",
    ) -> LeaseObject:
        """``metadata`` (as last answered, or ``{}``) with our name, label, view and API URL
        (when there is one)."""
        meta = dict(metadata)
        meta.update(name=name, namespace=self.namespace)
        meta["labels"] = {**(meta.get("labels") or {}), GROUP_LABEL: self.group}
        annotations = dict(meta.get("annotations") or {})
        annotations[VIEW_ANNOTATION] = msgspec.json.encode(list(view)).decode()
        if api_url:
            annotations[API_URL_ANNOTATION] = api_url
        else:
            annotations.pop(API_URL_ANNOTATION, None)
        meta["annotations"] = annotations
        return LeaseObject(metadata=meta, spec=spec)

    async def create(self, lease: LeaseObject) -> tuple[int, LeaseObject | None]:
        """Create ``lease`` (409 when it exists)."""
        return await self._one(
            "create_namespaced_lease", self.namespace, msgspec.to_builtins(lease)
        )

    async def replace(self, lease: LeaseObject) -> tuple[int, LeaseObject | None]:
        """Replace ``lease`` conditional on its ``resourceVersion`` (409: someone wrote in
        between; 404: it was deleted)."""
        name = str(lease.metadata["name"])
        return await self._one(
            "replace_namespaced_lease",
            name,
            self.namespace,
            msgspec.to_builtins(lease),
        )

    async def list(self) -> tuple[int, list[LeaseObject] | None]:
        """Every Lease of the group (``None`` on a non-2xx answer)."""
        status, data = await self._call(
            "list_namespaced_lease",
            self.namespace,
            label_selector=f"{GROUP_LABEL}={self.group}",
        )
        if data is None:
            return status, None
        return status, msgspec.json.decode(data, type=_LeaseList).items

    async def delete(self, name: str, *, resource_version: str | None = None) -> int:
        """Delete the Lease ``name``; the HTTP status (404: already gone). With
        ``resource_version``, only while the Lease is still that version (409 otherwise)."""
        if resource_version is None:
            status, _ = await self._call("delete_namespaced_lease", name, self.namespace)
        else:
            options = {"preconditions": {"resourceVersion": resource_version}}
            status, _ = await self._call(
                "delete_namespaced_lease", name, self.namespace, body=options
            )
        return status

    async def _one(self, op: str, *args: Any) -> tuple[int, LeaseObject | None]:
        status, data = await self._call(op, *args)
        if data is None:
            return status, None
        return status, msgspec.json.decode(data, type=LeaseObject)

    async def _call(self, op: str, *args: Any, **kwargs: Any) -> tuple[int, bytes | None]:
        """``CoordinationV1Api.<op>``: the status and, when 2xx, the body (on the lane if
        there is one)."""

        async def request(api: k8s.ApiClient) -> tuple[int, bytes | None]:
            fn: Callable[..., Awaitable[Any]] = getattr(k8s.CoordinationV1Api(api), op)
            resp = await fn(
                *args, _preload_content=False, _request_timeout=self._request_timeout, **kwargs
            )
            try:
                data: bytes = await resp.read()
                status = int(resp.status)
            finally:
                resp.release()
            return status, data if 200 <= status < 300 else None

        if self._lane is not None:
            return await self._lane.call(request)
        return await request(self._api)
