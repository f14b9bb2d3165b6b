"""The object store: the API server's storage semantics, independent of HTTP.

One global ``resourceVersion`` counter orders every committed change. Stored objects are
never mutated after commit (readers and watch events share them); every write builds a new
object. Each operation runs without awaiting, so on one event loop it is atomic: of two
concurrent writes with the same ``resourceVersion``, exactly one wins.

Errors are :class:`~continuum_sim.kube.status.StatusError` with the API server's codes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from continuum.clock import SystemClock
from continuum.ports import Clock
from continuum_sim.kube import objectmeta as om
from continuum_sim.kube.patch import apply_patch
from continuum_sim.kube.resources import GroupResource, ResourceType
from continuum_sim.kube.selectors import build_filter
from continuum_sim.kube.status import (
    already_exists,
    bad_request,
    invalid,
    not_found,
    stale,
)
from continuum_sim.kube.watch import EventHistory, Watcher, WatchEvent, expired_event

Admission = Callable[[dict[str, Any], dict[str, Any] | None], None]
"""A mutating/validating hook for one kind: ``(new, old)``; raises StatusError to refuse."""

Subscriber = Callable[[WatchEvent], None]

NAMESPACES: GroupResource = ("", "namespaces")


@dataclass
class WriteResult:
    """The object as stored (or as it would be, for a dry run) and any API warnings."""

    object: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    created: bool = False


@dataclass(frozen=True)
class WriteOptions:
    """Per-request write options (``dryRun=All``, ``fieldValidation``)."""

    dry_run: bool = False
    field_validation: str = "Warn"


_DEFAULT_OPTIONS = WriteOptions()


class Store:
    """Objects by resource, namespace and name, with history and watchers."""

    def __init__(self, *, clock: Clock | None = None, history_limit: int = 10_000) -> None:
        self.clock: Clock = clock or SystemClock()
        self.history_limit = history_limit
        self.admission: dict[GroupResource, Admission] = {}
        self._rv = 0
        self._objects: dict[GroupResource, dict[tuple[str, str], dict[str, Any]]] = {}
        self._history: dict[GroupResource, EventHistory] = {}
        self._watchers: dict[GroupResource, set[Watcher]] = {}
        self._subscribers: list[Subscriber] = []
        self._default_floor = 0

    # --- reading -------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The newest committed revision."""
        return self._rv

    def get(self, group: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A deep copy of one stored object, or ``None``. For tests; never raises."""
        obj = self._objects.get((group, plural), {}).get((namespace, name))
        return om.clone(obj) if obj is not None else None

    def objects(
        self, group: str, plural: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """Deep copies of the stored objects of a resource, sorted by namespace and name."""
        bucket = self._objects.get((group, plural), {})
        return [
            om.clone(bucket[key])
            for key in sorted(bucket)
            if namespace is None or key[0] == namespace
        ]

    def read(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        """The stored object (shared, do not mutate); 404 when absent."""
        obj = self._objects.get(rt.group_resource, {}).get((namespace, name))
        if obj is None:
            raise not_found(rt.group, rt.plural, name)
        return obj

    def list_objects(
        self,
        rt: ResourceType,
        *,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Matching objects (shared) sorted by namespace and name, and the list revision."""
        matches = build_filter(
            namespace=namespace, label_selector=label_selector, field_selector=field_selector
        )
        bucket = self._objects.get(rt.group_resource, {})
        items = [bucket[key] for key in sorted(bucket) if matches(bucket[key])]
        return items, self._rv

    # --- writing -------------------------------------------------------------------------

    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        body: Any,
        options: WriteOptions = _DEFAULT_OPTIONS,
    ) -> WriteResult:
        """Create ``body``; 409 AlreadyExists, 404 for a missing namespace, 422 invalid."""
        new = om.check_type(rt, body)
        meta = om.metadata_of(new)
        if meta.get("resourceVersion"):
            raise bad_request("resourceVersion should not be set on objects to be created")
        name = om.assign_name(rt, meta)
        if rt.namespaced and not namespace:
            namespace = meta.get("namespace") or "default"
        om.check_namespace(rt, meta, namespace)
        ns = meta.get("namespace", "") if rt.namespaced else ""
        if rt.namespaced and ("", ns) not in self._objects.get(NAMESPACES, {}):
            raise not_found("", "namespaces", ns)
        for key in om.SERVER_FIELDS[:5]:
            meta.pop(key, None)
        if rt.custom and rt.status_subresource:
            new.pop("status", None)
        warnings = self._admit(rt, new, None, options)
        if (ns, name) in self._objects.get(rt.group_resource, {}):
            raise already_exists(rt.group, rt.plural, name)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = om.timestamp(self.clock.now())
        meta["generation"] = 1
        if not options.dry_run:
            self._commit(rt.group_resource, (ns, name), new, None, "ADDED")
        return WriteResult(new, warnings, created=True)

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        options: WriteOptions = _DEFAULT_OPTIONS,
    ) -> WriteResult:
        """Replace an object (PUT). 422 without ``metadata.resourceVersion``, 409 when it is
        stale, 404 when the object is absent."""
        old = self.read(rt, namespace, name)
        new = om.check_type(rt, body)
        meta = om.metadata_of(new)
        self._check_identity(rt, meta, namespace, name)
        if om.require_resource_version(rt, meta) != old["metadata"]["resourceVersion"]:
            raise stale(rt.group, rt.plural, name)
        return self._write(rt, old, new, subresource=subresource, options=options)

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        patch: Any,
        *,
        content_type: str,
        subresource: str | None = None,
        options: WriteOptions = _DEFAULT_OPTIONS,
    ) -> WriteResult:
        """Apply a decoded patch of ``content_type``. 409 when the patch carries a stale
        ``metadata.resourceVersion``; 415 for strategic merge on a custom resource."""
        current = self._objects.get(rt.group_resource, {}).get((namespace, name))
        if current is None:
            if content_type == "application/apply-patch+yaml" and subresource is None:
                return self.create(rt, namespace or None, patch, options)
            raise not_found(rt.group, rt.plural, name)
        target = om.clone(current)
        target["apiVersion"] = rt.api_version
        patched = apply_patch(target, patch, content_type=content_type, custom=rt.custom)
        meta = om.metadata_of(patched)
        wanted = meta.get("resourceVersion")
        if wanted is not None and str(wanted) != current["metadata"]["resourceVersion"]:
            raise stale(rt.group, rt.plural, name)
        self._check_identity(rt, meta, namespace, name)
        om.check_type(rt, patched)
        return self._write(rt, current, patched, subresource=subresource, options=options)

    def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        *,
        delete_options: Any = None,
        options: WriteOptions = _DEFAULT_OPTIONS,
    ) -> WriteResult:
        """Delete an object: with finalizers it only gets ``deletionTimestamp`` and stays
        until the last finalizer is removed. 404 when absent, 409 on failed preconditions."""
        old = self.read(rt, namespace, name)
        om.check_preconditions(rt, old["metadata"], delete_options)
        key = (namespace, name)
        if old["metadata"].get("finalizers"):
            if old["metadata"].get("deletionTimestamp"):
                return WriteResult(old)
            new = om.clone(old)
            om.mark_deleting(new["metadata"], self.clock.now())
            if not options.dry_run:
                self._commit(rt.group_resource, key, new, old, "MODIFIED")
            return WriteResult(new)
        if options.dry_run:
            return WriteResult(old)
        gone = self._commit(rt.group_resource, key, None, old, "DELETED")
        if rt.group_resource == NAMESPACES:
            self._delete_namespace_contents(name)
        return WriteResult(gone)

    def delete_collection(
        self,
        rt: ResourceType,
        *,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        options: WriteOptions = _DEFAULT_OPTIONS,
    ) -> list[dict[str, Any]]:
        """Delete every matching object (finalizers honoured); returns their last states."""
        items, _ = self.list_objects(
            rt, namespace=namespace, label_selector=label_selector, field_selector=field_selector
        )
        meta = [(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in items]
        return [self.delete(rt, ns, name, options=options).object for ns, name in meta]

    def drop_resource(self, group_resource: GroupResource) -> None:
        """Remove every object of a resource (its CRD went away), telling the watchers."""
        bucket = self._objects.get(group_resource, {})
        for key in sorted(bucket):
            self._commit(group_resource, key, None, bucket[key], "DELETED")
        for watcher in list(self._watchers.pop(group_resource, ())):
            watcher.close()

    # --- watching ------------------------------------------------------------------------

    def watch(
        self,
        rt: ResourceType,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
    ) -> Watcher:
        """Start a watch. Without a resourceVersion (or ``"0"``) it begins with an ``ADDED``
        for every matching object; with one, it replays the retained events after it, or
        yields one 410 ``ERROR`` event and ends when those events are no longer held."""
        matches = build_filter(
            namespace=namespace, label_selector=label_selector, field_selector=field_selector
        )
        gr = rt.group_resource
        watcher = Watcher(gr, matches)
        if resource_version in (None, "", "0"):
            bucket = self._objects.get(gr, {})
            for key in sorted(bucket):
                if matches(bucket[key]):
                    watcher.push({"type": "ADDED", "object": bucket[key]})
        else:
            try:
                since = int(str(resource_version))
            except ValueError as exc:
                raise bad_request(f"invalid resource version: {resource_version!r}") from exc
            history = self._history_of(gr)
            if since < history.floor:
                watcher.push(expired_event(since, history.floor + 1))
                watcher.close()
                return watcher
            for event in history.since(since):
                watcher.offer(event)
        self._watchers.setdefault(gr, set()).add(watcher)
        return watcher

    def stop_watch(self, watcher: Watcher) -> None:
        """Detach a watcher (idempotent)."""
        self._watchers.get(watcher.group_resource, set()).discard(watcher)
        watcher.close()

    def watchers(self) -> list[Watcher]:
        """Every active watcher."""
        return [w for ws in self._watchers.values() for w in ws]

    def compact(self) -> int:
        """Forget all retained events (like an etcd compaction): any resume from an older
        resourceVersion now gets 410. Returns the compacted revision."""
        for history in self._history.values():
            history.compact(self._rv)
        self._default_floor = self._rv
        return self._rv

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber(event)`` synchronously after every commit (it must not block);
        returns the function that unsubscribes."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    # --- internals -----------------------------------------------------------------------

    def _history_of(self, gr: GroupResource) -> EventHistory:
        history = self._history.get(gr)
        if history is None:
            history = self._history[gr] = EventHistory(self.history_limit)
            history.floor = self._default_floor
        return history

    def _check_identity(
        self, rt: ResourceType, meta: dict[str, Any], namespace: str, name: str
    ) -> None:
        if meta.get("name") and meta["name"] != name:
            raise bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the "
                f"URL ({name})"
            )
        om.check_namespace(rt, meta, namespace or None)

    def _admit(
        self,
        rt: ResourceType,
        new: dict[str, Any],
        old: dict[str, Any] | None,
        options: WriteOptions,
    ) -> list[str]:
        warnings: list[str] = []
        om.check_annotations(rt, om.metadata_of(new))
        if rt.schema is not None:
            pruned = rt.schema.prune(new)
            if pruned and options.field_validation == "Strict":
                fields = ", ".join(f'unknown field "{p}"' for p in pruned)
                raise bad_request(f"strict decoding error: {fields}")
            if options.field_validation != "Ignore":
                warnings.extend(f'unknown field "{p}"' for p in pruned)
            rt.schema.apply_defaults(new)
            causes = rt.schema.validate(new, None if old is None else self._as_read(rt, old))
            if causes:
                name = str(new.get("metadata", {}).get("name", ""))
                raise invalid(kind=rt.kind, group=rt.group, name=name, causes=causes)
        hook = self.admission.get(rt.group_resource)
        if hook is not None:
            hook(new, old)
        return warnings

    @staticmethod
    def _as_read(rt: ResourceType, stored: dict[str, Any]) -> dict[str, Any]:
        """``stored`` as the API server reads it back: pruned and defaulted by the current
        schema. Ratcheting and the generation compare against this view, so neither sees a
        change the write did not make (an object stored under an older schema)."""
        if rt.schema is None:
            return stored
        view: dict[str, Any] = om.clone(stored)
        rt.schema.prune(view)
        rt.schema.apply_defaults(view)
        return view

    def _write(
        self,
        rt: ResourceType,
        old: dict[str, Any],
        new: dict[str, Any],
        *,
        subresource: str | None,
        options: WriteOptions,
    ) -> WriteResult:
        if subresource == "status":
            status = new.get("status")
            new = om.clone(old)
            new["apiVersion"] = rt.api_version
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        elif subresource is not None:
            raise not_found(rt.group, f"{rt.plural}/{subresource}", old["metadata"]["name"])
        elif rt.status_subresource:
            if "status" in old:
                new["status"] = om.clone(old["status"])
            else:
                new.pop("status", None)
        meta = om.metadata_of(new)
        old_meta = old["metadata"]
        om.keep_server_fields(meta, old_meta)
        om.check_finalizers(rt, meta, old_meta)
        warnings = self._admit(rt, new, old, options)
        # A status write never moves the generation (the API server's status strategy keeps
        # the stored spec); a main-resource write does when the spec as read changed.
        if subresource != "status" and om.spec_part(new, rt) != om.spec_part(
            self._as_read(rt, old), rt
        ):
            meta["generation"] = int(old_meta.get("generation", 0)) + 1
        if {**new, "apiVersion": old.get("apiVersion")} == old:
            return WriteResult(old, warnings)
        if options.dry_run:
            return WriteResult(new, warnings)
        key = (old_meta.get("namespace", ""), old_meta["name"])
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return WriteResult(self._commit(rt.group_resource, key, None, new, "DELETED"), warnings)
        return WriteResult(self._commit(rt.group_resource, key, new, old, "MODIFIED"), warnings)

    def _commit(
        self,
        gr: GroupResource,
        key: tuple[str, str],
        new: dict[str, Any] | None,
        old: dict[str, Any] | None,
        event_type: str,
    ) -> dict[str, Any]:
        self._rv += 1
        bucket = self._objects.setdefault(gr, {})
        if new is None:
            assert old is not None
            bucket.pop(key, None)
            obj = {**old, "metadata": {**old["metadata"], "resourceVersion": str(self._rv)}}
        else:
            new["metadata"]["resourceVersion"] = str(self._rv)
            bucket[key] = obj = new
        event = WatchEvent(event_type, obj, old, self._rv, gr)
        self._history_of(gr).append(event)
        for watcher in list(self._watchers.get(gr, ())):
            watcher.offer(event)
        for subscriber in list(self._subscribers):
            subscriber(event)
        return obj

    def _delete_namespace_contents(self, namespace: str) -> None:
        for gr, bucket in list(self._objects.items()):
            for key in [k for k in sorted(bucket) if k[0] == namespace]:
                old = bucket[key]
                if old["metadata"].get("finalizers"):
                    if not old["metadata"].get("deletionTimestamp"):
                        new = om.clone(old)
                        om.mark_deleting(new["metadata"], self.clock.now())
                        self._commit(gr, key, new, old, "MODIFIED")
                else:
                    self._commit(gr, key, None, old, "DELETED")
