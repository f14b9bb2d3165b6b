"""The aiohttp application: one catch-all handler that resolves a request the way the API
server does and answers it from the :class:`~continuum_sim.kube.store.Store`.

Every refusal is a ``Status`` body with the matching HTTP code; every request is recorded
in the request log (after fault injection decided its fate, so injected failures are
logged with their injected status).
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from typing import Any

import msgspec
import yaml
from aiohttp import web
from multidict import CIMultiDict

from continuum.ports import Clock
from continuum_sim.kube import discovery, openapi, protobuf
from continuum_sim.kube.crds import Registry
from continuum_sim.kube.faults import FaultRule, Faults
from continuum_sim.kube.patch import decode_patch_body
from continuum_sim.kube.requestinfo import TRUE_VALUES, RequestInfo, parse_request_info
from continuum_sim.kube.requestlog import RequestLog, RequestRecord
from continuum_sim.kube.resources import ResourceType
from continuum_sim.kube.status import StatusError, bad_request, status_body, unsupported_media_type
from continuum_sim.kube.store import Store, WriteOptions, WriteResult
from continuum_sim.kube.stream import stream_watch
from continuum_sim.kube.table import to_table, wants_table

_encoder = msgspec.json.Encoder()
_HEALTH_PATHS = frozenset({"/healthz", "/livez", "/readyz"})


def _json(body: Any, *, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    headers: CIMultiDict[str] = CIMultiDict()
    for warning in warnings or ():
        escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
        headers.add("Warning", f'299 - "{escaped}"')
    return web.Response(
        body=_encoder.encode(body), status=status, content_type="application/json", headers=headers
    )


def _error(error: StatusError) -> web.Response:
    return _json(error.body(), status=error.code)


def _served(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as seen at ``rt``'s version."""
    if obj.get("apiVersion") == rt.api_version:
        return obj
    return {**obj, "apiVersion": rt.api_version}


class ApiServer:
    """Request handling for one emulated cluster."""

    def __init__(
        self,
        *,
        store: Store,
        registry: Registry,
        faults: Faults,
        requests: RequestLog,
        clock: Clock,
        token: str | None,
        bookmark_interval: float,
        watch_timeout: float,
    ) -> None:
        self.store = store
        self.registry = registry
        self.faults = faults
        self.requests = requests
        self.clock = clock
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self.server_address = ""

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        info = parse_request_info(request.method, request.path, request.query)
        index = self.requests.append(
            RequestRecord(
                method=request.method,
                path=request.path,
                verb=info.verb,
                group=info.group,
                version=info.version,
                resource=info.resource,
                subresource=info.subresource,
                namespace=info.namespace or "",
                name=info.name,
                dry_run=request.query.get("dryRun") == "All",
            )
        )
        try:
            response = await self._guarded(request, info)
        except StatusError as exc:
            response = _error(exc)
        self.requests.set_status(index, response.status)
        return response

    async def _guarded(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        if self.token is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                raise StatusError(401, "Unauthorized")
        rule = self.faults.take(request.method, info, dry_run=request.query.get("dryRun") == "All")
        if rule is not None:
            injected = await self._inject(request, rule)
            if injected is not None:
                return injected
        if info.is_resource and info.resource:
            return await self._resource(request, info)
        return self._non_resource(request, info)

    async def _inject(self, request: web.Request, rule: FaultRule) -> web.StreamResponse | None:
        if rule.action == "delay":
            await self.clock.sleep(rule.seconds)
            return None
        if rule.action == "hang":
            await self.faults.wait_released()
            raise StatusError(503, "hung request released")
        if rule.action == "drop":
            if request.transport is not None:
                request.transport.abort()
            raise StatusError(503, "connection dropped")
        body = rule.body if rule.body is not None else status_body(rule.status, rule.message)
        response = _json(body, status=rule.status)
        if rule.status in (429, 503):
            response.headers["Retry-After"] = "1"
        return response

    # --- discovery and health ------------------------------------------------------------

    def _non_resource(self, request: web.Request, info: RequestInfo) -> web.Response:
        path = request.path.rstrip("/") or "/"
        if request.method != "GET":
            raise StatusError(405, f"the server does not allow this method on {path}")
        if path in _HEALTH_PATHS:
            return web.Response(text="ok")
        body: dict[str, Any] | None = None
        if path == "/version":
            body = dict(discovery.VERSION_INFO)
        elif path == "/api":
            body = discovery.core_versions(self.server_address)
        elif path == "/apis":
            body = discovery.group_list(self.registry)
        elif info.group and not info.version:
            body = discovery.group(self.registry, info.group)
        elif path == "/openapi/v3":
            body = openapi.root_document(self.registry)
        elif path.startswith("/openapi/v3/"):
            rest = path.removeprefix("/openapi/v3/").split("/")
            if rest[0] == "api" and len(rest) == 2:
                body = openapi.group_version_document(self.registry, "", rest[1])
            elif rest[0] == "apis" and len(rest) == 3:
                body = openapi.group_version_document(self.registry, rest[1], rest[2])
        elif path == "/api/v1":
            body = discovery.resource_list(self.registry, "", "v1")
        elif path.startswith("/apis/"):
            parts = path.split("/")
            if len(parts) == 3:
                body = discovery.group(self.registry, parts[2])
            elif len(parts) == 4:
                body = discovery.resource_list(self.registry, parts[2], parts[3])
        if body is None:
            raise StatusError(404, "the server could not find the requested resource")
        return _json(body)

    # --- resources -----------------------------------------------------------------------

    def _lookup(self, info: RequestInfo) -> ResourceType:
        rt = self.registry.lookup(info.group, info.version, info.resource)
        if rt is None:
            raise StatusError(404, "the server could not find the requested resource")
        if info.namespace is not None and not rt.namespaced:
            raise StatusError(404, "the server could not find the requested resource")
        if info.subresource and (info.subresource != "status" or not rt.status_subresource):
            raise StatusError(404, "the server could not find the requested resource")
        return rt

    async def _resource(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        rt = self._lookup(info)
        query = request.query
        namespace = info.namespace or ""
        if info.verb in ("list", "watch", "deletecollection"):
            return await self._collection(request, rt, info)
        if rt.namespaced and info.namespace is None:
            raise StatusError(405, f"{info.verb} on {rt.qualified} requires a namespace")
        options = _write_options(query)
        if info.verb == "get":
            obj = _served(rt, self.store.read(rt, namespace, info.name))
            if wants_table(request.headers.get("Accept", "")):
                return _json(self._table(rt, [obj], query, {}))
            return _json(obj)
        if info.verb == "create":
            if info.name:
                raise StatusError(405, "POST is not allowed on a named resource")
            result = self.store.create(rt, namespace or None, await _body(request, rt), options)
            return _json(result.object, status=201, warnings=result.warnings)
        if info.verb == "update":
            result = self.store.update(
                rt,
                namespace,
                info.name,
                await _body(request, rt),
                subresource=info.subresource or None,
                options=options,
            )
            return _written(rt, result)
        if info.verb == "patch":
            content_type = request.content_type
            raw = await request.read()
            if content_type == "application/apply-patch+yaml" and not query.get("fieldManager"):
                raise bad_request("PATCH, field manager is required for apply requests")
            patch = decode_patch_body(content_type, raw)
            result = self.store.patch(
                rt,
                namespace,
                info.name,
                patch,
                content_type=content_type,
                subresource=info.subresource or None,
                options=options,
            )
            response = _written(rt, result)
            if result.created:
                response.set_status(201)
            return response
        if info.verb == "delete":
            raw = await request.read()
            delete_options = await _body(request, None) if raw.strip() else None
            result = self.store.delete(
                rt, namespace, info.name, delete_options=delete_options, options=options
            )
            return _written(rt, result)
        raise StatusError(405, f"verb {info.verb} is not supported")

    async def _collection(
        self, request: web.Request, rt: ResourceType, info: RequestInfo
    ) -> web.StreamResponse:
        query = request.query
        labels, fields = query.get("labelSelector"), query.get("fieldSelector")
        if info.verb == "watch":
            watcher = self.store.watch(
                rt,
                namespace=info.namespace,
                label_selector=labels,
                field_selector=fields,
                resource_version=query.get("resourceVersion"),
            )
            timeout = float(query.get("timeoutSeconds") or self.watch_timeout)
            try:
                return await stream_watch(
                    request,
                    rt=rt,
                    watcher=watcher,
                    clock=self.clock,
                    timeout=timeout,
                    bookmarks=query.get("allowWatchBookmarks", "") in TRUE_VALUES,
                    bookmark_interval=self.bookmark_interval,
                    current_rv=lambda: self.store.resource_version,
                )
            finally:
                self.store.stop_watch(watcher)
        if info.verb == "deletecollection":
            deleted = self.store.delete_collection(
                rt,
                namespace=info.namespace,
                label_selector=labels,
                field_selector=fields,
                options=_write_options(query),
            )
            items = [_served(rt, o) for o in deleted]
            rv = str(self.store.resource_version)
            return _json(
                {
                    "kind": rt.list_kind_name,
                    "apiVersion": rt.api_version,
                    "metadata": {"resourceVersion": rv},
                    "items": items,
                }
            )
        items, list_rv = self.store.list_objects(
            rt, namespace=info.namespace, label_selector=labels, field_selector=fields
        )
        meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
        items = _paginate(items, query, meta, list_rv)
        served = [_served(rt, o) for o in items]
        if wants_table(request.headers.get("Accept", "")):
            return _json(self._table(rt, served, query, meta))
        return _json(
            {
                "kind": rt.list_kind_name,
                "apiVersion": rt.api_version,
                "metadata": meta,
                "items": served,
            }
        )

    def _table(
        self,
        rt: ResourceType,
        items: list[dict[str, Any]],
        query: Mapping[str, str],
        meta: dict[str, Any],
    ) -> dict[str, Any]:
        return to_table(
            rt,
            items,
            now=self.clock.now(),
            include_object=query.get("includeObject", "Metadata"),
            list_meta=meta,
        )


def _written(rt: ResourceType, result: WriteResult) -> web.Response:
    return _json(_served(rt, result.object), warnings=result.warnings)


def _write_options(query: Mapping[str, str]) -> WriteOptions:
    return WriteOptions(
        dry_run=query.get("dryRun") == "All",
        field_validation=query.get("fieldValidation") or "Warn",
    )


_JSON_TYPES = frozenset({"", "application/json", "*/*"})
_YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml"})


async def _body(request: web.Request, rt: ResourceType | None) -> Any:
    """The request body as a JSON value, by ``Content-Type`` as the API server reads it:
    JSON (also when absent), YAML, or protobuf for the built-in kinds
    :mod:`~continuum_sim.kube.protobuf` decodes. 415 for any other media type and for
    protobuf of a custom resource (the real server has no protobuf for them either);
    400 for a body that does not parse. ``rt`` is ``None`` for DeleteOptions."""
    raw = await request.read()
    content_type = request.content_type
    if request.headers.get("Content-Type") is None:
        content_type = ""
    if content_type in _JSON_TYPES:
        try:
            return msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise bad_request(f"error decoding request body: {exc}") from exc
    if content_type in _YAML_TYPES:
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise bad_request(f"error decoding request body: {exc}") from exc
    if content_type == protobuf.MEDIA_TYPE and (rt is None or not rt.custom):
        try:
            return protobuf.decode_object(raw)
        except protobuf.UnsupportedKind as exc:
            raise unsupported_media_type(
                f"the emulator does not decode protobuf bodies of kind {exc}; "
                "send it as application/json"
            ) from exc
        except protobuf.ProtobufError as exc:
            raise bad_request(f"error decoding request body: {exc}") from exc
    raise unsupported_media_type(
        "the body of the request was in an unknown format - accepted media types include: "
        + (
            "application/json, application/yaml"
            if rt is not None and rt.custom
            else f"application/json, application/yaml, {protobuf.MEDIA_TYPE}"
        )
    )


def _paginate(
    items: list[dict[str, Any]], query: Mapping[str, str], meta: dict[str, Any], rv: int
) -> list[dict[str, Any]]:
    """Apply ``limit``/``continue``. The continue token names the last key returned."""
    token = query.get("continue")
    if token:
        try:
            start = msgspec.json.decode(base64.urlsafe_b64decode(token.encode()))
            after = (str(start["ns"]), str(start["name"]))
        except (ValueError, KeyError, TypeError, msgspec.DecodeError) as exc:
            raise bad_request("continue key is not valid") from exc
        items = [
            o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > after
        ]
    limit = int(query.get("limit") or 0)
    if limit > 0 and len(items) > limit:
        last = items[limit - 1]["metadata"]
        key = {"ns": last.get("namespace", ""), "name": last["name"], "rv": rv}
        meta["continue"] = base64.urlsafe_b64encode(_encoder.encode(key)).decode()
        meta["remainingItemCount"] = len(items) - limit
        items = items[:limit]
    return items
