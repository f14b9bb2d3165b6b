"""Typed operations on ``Continuum`` CRs (``dr.openova.io/v1``) in one region's API.

Reads come back raw (``dict``, for the watch, which must see invalid CRs too) or decoded
(:class:`~continuum.messages.crd.Continuum`). Writes are conflict-safe:

* status goes through the ``/status`` subresource as a JSON merge patch that carries only
  what changed, with a ``resourceVersion`` precondition; on 409 the CR is re-read, the
  caller's change is re-applied on top of what is there now, and the patch is retried. A
  field the caller did not change is never sent, so a concurrent writer's fields survive
  (conditions are merged by type for the same reason);
* ``spec.switchover.requested`` is cleared by a merge patch with a ``resourceVersion``
  precondition, re-read and retried on 409;
* ``metadata.finalizers`` is written the same way (the whole list, under the version it was
  read at), so another controller's finalizer is never lost.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC
from typing import Any, Final

import msgspec

from continuum.adapters.kube import RegionClient
from continuum.clock import SystemClock
from continuum.errors import Conflict, NotFound, Unavailable
from continuum.messages.crd import (
    API_GROUP,
    API_VERSION,
    FINALIZER,
    KIND,
    PLURAL,
    Continuum,
    CopyState,
    RawList,
    decode_continuum,
)
from continuum.messages.status import ContinuumStatus, encode_status_patch, status_to_builtins
from continuum.ports import Clock

VERSION: Final = "v1"
MERGE_PATCH: Final = "application/merge-patch+json"
DEFAULT_ATTEMPTS: Final = 8
DEFAULT_WATCH_SECONDS: Final = 300


def decode_status(obj: dict[str, Any]) -> ContinuumStatus:
    """The ``status`` of a raw CR; an absent or undecodable status reads as empty."""
    try:
        return msgspec.convert(obj.get("status") or {}, ContinuumStatus)
    except msgspec.ValidationError:
        return ContinuumStatus()


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386: apply merge ``patch`` to ``target`` (returns a new value)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


def _by_type(conditions: Any) -> dict[str, Any]:
    return {c["type"]: c for c in conditions or () if isinstance(c, dict) and "type" in c}


def rebase_status(
    current: ContinuumStatus, *, previous: ContinuumStatus, status: ContinuumStatus
) -> ContinuumStatus:
    """Re-apply the change ``previous`` → ``status`` on top of ``current``.

    Fields the change did not touch keep ``current``'s value; conditions are merged by type
    (a condition the change did not touch keeps ``current``'s version). Pure.
    """
    before, after = status_to_builtins(previous), status_to_builtins(status)
    diff = msgspec.json.decode(encode_status_patch(status, previous=previous))["status"]
    merged = _merge(status_to_builtins(current), diff)
    if "conditions" in diff:
        old, new = _by_type(before.get("conditions")), _by_type(after.get("conditions"))
        result = _by_type(status_to_builtins(current).get("conditions"))
        for type_ in old.keys() - new.keys():
            result.pop(type_, None)
        for type_, cond in new.items():
            if old.get(type_) != cond:
                result[type_] = cond
        merged["conditions"] = list(result.values())
        if not merged["conditions"]:
            merged.pop("conditions")
    return msgspec.convert(merged, ContinuumStatus)


class ContinuumApi:
    """Continuum CRs in one region (``client``)."""

    def __init__(
        self,
        client: RegionClient,
        *,
        clock: Clock | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
    ) -> None:
        self.client = client
        self.clock: Clock = clock or SystemClock()
        self.region = client.region
        self._attempts = attempts
        self._versions: dict[tuple[str, str], str] = {}

    # --- reads ---------------------------------------------------------------------------

    async def get_raw(self, namespace: str, name: str) -> dict[str, Any]:
        """The CR as stored. Raises ``NotFound``/``Unavailable``."""
        obj = await self.client.call(
            self.client.custom.get_namespaced_custom_object,
            API_GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            what=f"get continuum {namespace}/{name}",
        )
        assert isinstance(obj, dict)
        return obj

    async def get(self, namespace: str, name: str) -> Continuum:
        """The CR decoded and validated. Raises ``InvalidSpec`` naming the field for an
        invalid CR, ``NotFound``/``Unavailable`` otherwise."""
        return decode_continuum(await self.get_raw(namespace, name))

    async def list_raw(self, namespace: str | None = None) -> RawList:
        """Every CR in ``namespace`` (``None``: all namespaces), raw, with the list's
        resourceVersion."""
        if namespace is None:
            answer = await self.client.call(
                self.client.custom.list_cluster_custom_object,
                API_GROUP,
                VERSION,
                PLURAL,
                what="list continuums",
            )
        else:
            answer = await self.client.call(
                self.client.custom.list_namespaced_custom_object,
                API_GROUP,
                VERSION,
                namespace,
                PLURAL,
                what=f"list continuums in {namespace}",
            )
        return RawList(
            items=list(answer.get("items") or []),
            resource_version=str((answer.get("metadata") or {}).get("resourceVersion", "")),
        )

    async def list(self, namespaces: Sequence[str] | None = None) -> list[Continuum]:
        """The valid CRs of ``namespaces`` (``None``: all namespaces), decoded. Invalid CRs
        are left out (the watch reports them in their status)."""
        raws: list[dict[str, Any]] = []
        for namespace in [None] if namespaces is None else list(namespaces):
            raws.extend((await self.list_raw(namespace)).items)
        out: list[Continuum] = []
        for raw in raws:
            try:
                out.append(decode_continuum(raw))
            except Exception:
                continue
        return out

    async def watch(
        self,
        *,
        namespace: str | None,
        resource_version: str,
        timeout_seconds: int = DEFAULT_WATCH_SECONDS,
    ) -> AsyncIterator[dict[str, Any]]:
        """Events (``{"type", "object"}``: ADDED, MODIFIED, DELETED, BOOKMARK) after
        ``resource_version``, until the server ends the stream. Raises ``WatchExpired``
        when ``resource_version`` is too old, ``Unavailable`` when the connection breaks."""
        common: dict[str, Any] = {
            "resource_version": resource_version,
            "allow_watch_bookmarks": True,
            "timeout_seconds": timeout_seconds,
        }
        if namespace is None:
            stream = self.client.stream(
                self.client.custom.list_cluster_custom_object,
                API_GROUP,
                VERSION,
                PLURAL,
                what="watch continuums",
                **common,
            )
        else:
            stream = self.client.stream(
                self.client.custom.list_namespaced_custom_object,
                API_GROUP,
                VERSION,
                namespace,
                PLURAL,
                what=f"watch continuums in {namespace}",
                **common,
            )
        async for event in stream:
            yield event

    # --- status --------------------------------------------------------------------------

    async def _send_status(self, namespace: str, name: str, patch: bytes) -> dict[str, Any]:
        try:
            obj = await self._patch_status_call(namespace, name, patch)
        except NotFound:
            self._versions.pop((namespace, name), None)
            raise
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:
            self._versions[(namespace, name)] = str(version)
        return obj

    async def _merge_patch(
        self, namespace: str, name: str, body: dict[str, Any], *, what: str
    ) -> Any:
        """One JSON merge patch of the CR itself (not its status); the API's answer."""
        return await self.client.call(
            self.client.custom.patch_namespaced_custom_object,
            API_GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            body,
            _content_type=MERGE_PATCH,
            what=what,
        )

    async def _patch_status_call(self, namespace: str, name: str, patch: bytes) -> dict[str, Any]:
        obj = await self.client.call(
            self.client.custom.patch_namespaced_custom_object_status,
            API_GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            msgspec.json.decode(patch),
            _content_type=MERGE_PATCH,
            what=f"patch continuum {namespace}/{name} status",
        )
        assert isinstance(obj, dict)
        return obj

    async def update_status(
        self,
        namespace: str,
        name: str,
        mutate: Callable[[ContinuumStatus], ContinuumStatus],
    ) -> ContinuumStatus:
        """Read the CR, compute ``mutate(current status)`` and patch only the difference,
        under a resourceVersion precondition; on 409 re-read and call ``mutate`` again.

        Returns the status as stored. No request is sent when nothing changes. Raises
        ``Conflict`` after the configured number of attempts, other ``KubeError``s as they
        come (``NotFound`` when the CR is gone).
        """
        for _ in range(self._attempts):
            raw = await self.get_raw(namespace, name)
            current = decode_status(raw)
            new = mutate(current)
            if new == current:
                return current
            patch = encode_status_patch(
                new, previous=current, resource_version=raw["metadata"]["resourceVersion"]
            )
            try:
                return decode_status(await self._send_status(namespace, name, patch))
            except Conflict:
                continue
        raise Conflict(
            f"patch continuum {namespace}/{name} status: still conflicting after "
            f"{self._attempts} attempts",
            region=self.region,
            status=409,
        )

    def seed_version(self, namespace: str, name: str, resource_version: str) -> None:
        """Remember ``resource_version`` (the CR as a watch saw it) for the first status write
        of ``namespace/name``, unless a write of ours already left one: that first write is
        then one PATCH, not a GET and a PATCH. Safe when stale: the precondition fails (409)
        and the write re-reads."""
        if resource_version:
            self._versions.setdefault((namespace, name), resource_version)

    async def patch_status(
        self,
        namespace: str,
        name: str,
        status: ContinuumStatus,
        *,
        previous: ContinuumStatus,
        resource_version: str | None = None,
    ) -> ContinuumStatus:
        """Make the change ``previous`` → ``status`` on the stored status, touching nothing
        else.

        With ``resource_version`` (the version ``previous`` was read at) the diff is sent at
        once under that precondition (one request in the common case); without it, or after
        a 409, the CR is re-read and the change re-applied on top of what is stored
        (:func:`rebase_status`). Returns the status as stored.
        """
        if resource_version is None:
            # The version our own last write left: one request when nobody else wrote since
            # (the common case); a 409 falls back to re-read and rebase below.
            resource_version = self._versions.get((namespace, name))
        if resource_version is not None:
            if status == previous:
                return previous
            patch = encode_status_patch(
                status, previous=previous, resource_version=resource_version
            )
            try:
                return decode_status(await self._send_status(namespace, name, patch))
            except Conflict:
                pass
        return await self.update_status(
            namespace,
            name,
            lambda current: rebase_status(current, previous=previous, status=status),
        )

    # --- spec: the switchover request ------------------------------------------------------

    async def clear_switchover_request(
        self, namespace: str, name: str, *, resource_version: str | None = None
    ) -> bool:
        """Set ``spec.switchover.requested`` to false with a merge patch under a
        resourceVersion precondition (the version given, else a fresh read); on 409 re-read
        and retry. Returns True when this call cleared it, False when it was not set.
        Raises ``Conflict`` after the configured number of attempts."""
        rv = resource_version
        for _ in range(self._attempts):
            if rv is None:
                raw = await self.get_raw(namespace, name)
                requested = ((raw.get("spec") or {}).get("switchover") or {}).get("requested")
                if requested is not True:
                    return False
                rv = str(raw["metadata"]["resourceVersion"])
            body = {
                "metadata": {"resourceVersion": rv},
                "spec": {"switchover": {"requested": False}},
            }
            try:
                await self._merge_patch(
                    namespace,
                    name,
                    body,
                    what=f"clear switchover request of continuum {namespace}/{name}",
                )
            except Conflict:
                rv = None
                continue
            return True
        raise Conflict(
            f"clear switchover request of continuum {namespace}/{name}: still conflicting "
            f"after {self._attempts} attempts",
            region=self.region,
            status=409,
        )

    # --- metadata: finalizers -------------------------------------------------------------

    async def set_finalizer(
        self, namespace: str, name: str, finalizer: str, *, present: bool
    ) -> bool:
        """Make ``metadata.finalizers`` of the CR contain ``finalizer`` (``present``) or not.

        Reads the CR, and only when it differs sends one merge patch of the whole list under
        a resourceVersion precondition (so a finalizer another controller adds or removes
        meanwhile is never lost: the 409 re-reads and retries). Returns True when this call
        changed the list. Removing from a CR that is gone is not an error (returns False);
        adding to it raises ``NotFound``. Raises ``Invalid`` when adding to a CR being
        deleted, ``Conflict`` after the configured number of attempts."""
        what = f"{'add' if present else 'remove'} finalizer of continuum {namespace}/{name}"
        for _ in range(self._attempts):
            try:
                raw = await self.get_raw(namespace, name)
            except NotFound:
                if present:
                    raise
                return False
            meta = raw.get("metadata") or {}
            current = [str(f) for f in meta.get("finalizers") or ()]
            if (finalizer in current) == present:
                return False
            wanted = [*current, finalizer] if present else [f for f in current if f != finalizer]
            body = {
                "metadata": {
                    "resourceVersion": str(meta["resourceVersion"]),
                    "finalizers": wanted or None,
                }
            }
            try:
                obj = await self._merge_patch(namespace, name, body, what=what)
            except Conflict:
                continue
            except NotFound:
                if present:
                    raise
                return False
            version = (obj.get("metadata") or {}).get("resourceVersion") if obj else None
            if version:
                # The status is as our last status write left it: the next one builds on this
                # version instead of meeting a 409 first.
                self._versions[(namespace, name)] = str(version)
            return True
        raise Conflict(
            f"{what}: still conflicting after {self._attempts} attempts",
            region=self.region,
            status=409,
        )

    # --- events --------------------------------------------------------------------------

    async def record_event(
        self,
        continuum: Continuum,
        *,
        reason: str,
        message: str,
        type_: str = "Normal",
        component: str = "continuum",
    ) -> None:
        """Create a core ``v1`` Event about ``continuum`` (``kubectl describe`` shows it).
        Raises the mapped ``KubeError``s; callers treat an event as best effort."""
        meta = continuum.metadata
        now = self.clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{meta.name}.{uuid.uuid4().hex[:16]}",
                "namespace": meta.namespace,
            },
            "involvedObject": {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "name": meta.name,
                "namespace": meta.namespace,
                "uid": meta.uid,
                "resourceVersion": meta.resource_version,
            },
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "source": {"component": component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await self.client.call(
            self.client.core.create_namespaced_event,
            meta.namespace,
            body,
            what=f"record event {reason} for continuum {meta.namespace}/{meta.name}",
        )


class ContinuumFinalizers:
    """:class:`~continuum.ports.Finalizers` for :data:`~continuum.messages.crd.FINALIZER`
    over :class:`ContinuumApi` (keys are ``<namespace>/<name>``)."""

    def __init__(self, api: ContinuumApi) -> None:
        self._api = api

    async def add_finalizer(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        await self._api.set_finalizer(namespace, name, FINALIZER, present=True)

    async def remove_finalizer(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        await self._api.set_finalizer(namespace, name, FINALIZER, present=False)


class ContinuumCopiesReader:
    """:class:`~continuum.ports.ContinuumCopies` over one :class:`ContinuumApi` per region."""

    def __init__(self, apis: Mapping[str, ContinuumApi]) -> None:
        self._apis = dict(apis)

    async def read_copy(self, region: str, key: str) -> CopyState:
        api = self._apis.get(region)
        if api is None:
            raise Unavailable("no kubeconfig context is configured for this region", region=region)
        namespace, name = key.split("/", 1)
        try:
            raw = await api.get_raw(namespace, name)
        except NotFound:
            return CopyState(exists=False)
        meta = raw.get("metadata") or {}
        journal = (raw.get("status") or {}).get("switchover") or {}
        return CopyState(
            exists=True,
            deleting=bool(meta.get("deletionTimestamp")),
            journal_to=str(journal.get("to") or "") if isinstance(journal, dict) else "",
        )
