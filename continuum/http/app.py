"""Assemble the Litestar application: routes, guards, error mapping, OpenAPI, access log.

Layout::

    GET  /healthz                                   liveness, no auth
    GET  /readyz                                    readiness, no auth
    GET  /v1/continuums                             guarded (owner tier [+ bearer], leader)
    GET  /v1/continuums/{ns}/{name}
    POST /v1/continuums/{ns}/{name}/dry-run
    GET  /v1/continuums/{ns}/{name}/health
    POST /v1/continuums/{ns}/{name}/switchover
    GET  /schema, /schema/openapi.json              Litestar's OpenAPI document, no auth

Sharded, a request for a CR another replica runs is answered by that replica
(:mod:`continuum.http.forwarding`).

Every HTTP request yields exactly one canonical log line, ``api_request`` (method, path,
route, status, duration_ms, outcome), and one observation in the API metrics. Query strings
and headers are never logged.
"""

from __future__ import annotations

import time
from typing import Any, Final, cast

from litestar import Litestar, Router
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, OpenAPI, SecurityScheme
from litestar.types import (
    Guard,
    LifeSpanReceive,
    LifeSpanScope,
    LifeSpanSend,
    Message,
    Receive,
    Scope,
    Send,
)

from continuum import metrics
from continuum.config import Settings
from continuum.http.auth import credentials_check, leader_check
from continuum.http.errors import OUTCOME_KEY, exception_handlers, outcome_for
from continuum.http.forwarding import Forwarder, PeerDirectory
from continuum.http.readiness import Readiness
from continuum.http.routes import (
    ContinuumRoutes,
    check_path_segments,
    check_query,
    probe_handlers,
)
from continuum.http.stored_health import StoredHealth
from continuum.logs import get_logger
from continuum.messages.requests import DryRunRequest, SwitchoverRequest
from continuum.supervisor.conflicts import Conflicts
from continuum.supervisor.registry import Registry

DEFAULT_ASK_TIMEOUT: Final = 10.0
"""Seconds a handler waits for the CR's actor before answering 504."""
FORWARD_MARGIN: Final = 2.0
"""Seconds a forwarded request may take beyond the ask timeout (the peer's own 504 must
arrive before this replica gives up on it)."""

API_VERSION: Final = "1.0.0"
CLOSED_BODIES: Final = (DryRunRequest, SwitchoverRequest)
"""Request bodies that reject unknown fields (422)."""


class ApiApp(Litestar):
    """Litestar plus the canonical access log line and request metrics, around every HTTP
    request — including the ones Litestar answers itself (404, 405, 413, ...)."""

    async def __call__(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        if scope["type"] != ScopeType.HTTP:
            await super().__call__(scope, receive, send)
            return
        http_scope = cast(Scope, scope)
        http_send = cast(Send, send)
        started = time.perf_counter()
        status = 0

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await http_send(message)

        try:
            await super().__call__(http_scope, receive, send_and_watch)
        finally:
            self._log_request(http_scope, status, time.perf_counter() - started)

    @staticmethod
    def _log_request(scope: Scope, status: int, seconds: float) -> None:
        state = scope.get("state") or {}
        outcome = state.get(OUTCOME_KEY) or (
            "aborted" if status == 0 else "ok" if status < 400 else outcome_for(status)
        )
        route = str(scope.get("path_template") or "unmatched")
        method = str(scope.get("method", ""))
        get_logger("continuum.http.access").info(
            "api_request",
            method=method,
            path=scope.get("path", ""),
            route=route,
            status=status,
            duration_ms=round(seconds * 1000, 3),
            outcome=outcome,
        )
        metrics.observe_api_request(route=route, method=method, status=status, seconds=seconds)


def create_app(
    *,
    registry: Registry,
    readiness: Readiness,
    settings: Settings,
    ask_timeout: float = DEFAULT_ASK_TIMEOUT,
    stored_health: StoredHealth | None = None,
    conflicts: Conflicts | None = None,
    peers: PeerDirectory | None = None,
) -> Litestar:
    """The API application over ``registry`` (CR key → actor).

    Uses ``settings.api_token`` (empty: owner-tier header alone) and
    ``settings.api_body_limit_bytes`` (413 beyond it). ``readiness`` answers ``/readyz`` and
    gates ``/v1`` (503 + ``Retry-After`` on a non-leader). Handlers wait at most
    ``ask_timeout`` seconds of the actors' clock for an answer (504 past it).
    ``stored_health`` reads ``status.lastHealth`` from the CR's copies, so ``GET …/health``
    answers from the CR status (see :mod:`continuum.http.stored_health`); without it the
    actor answers from memory. ``conflicts`` (the CR watch's) lets the API answer for a CR
    that is in conflict and so has no actor (see :mod:`continuum.core.ownership`).
    ``peers`` (the shard membership, when sharded) has a request for a CR another replica
    runs answered by that replica (:mod:`continuum.http.forwarding`).
    """
    if ask_timeout <= 0:
        raise ValueError("ask_timeout must be positive")
    security: list[dict[str, list[str]]] = [
        {"ownerTier": [], "bearer": []} if settings.api_token else {"ownerTier": []}
    ]
    forwarder = (
        None
        if peers is None
        else Forwarder(
            registry=registry,
            peers=peers,
            timeout=ask_timeout + FORWARD_MARGIN,
            conflicts=conflicts,
        )
    )
    routes = ContinuumRoutes(
        registry=registry,
        ask_timeout=ask_timeout,
        region=settings.region,
        stored_health=stored_health,
        conflicts=conflicts,
        forwarder=forwarder,
    )
    v1 = Router(
        "/v1",
        route_handlers=routes.handlers(),
        guards=[v1_guard(token=settings.api_token, readiness=readiness)],
        security=security,
    )
    app = ApiApp(
        route_handlers=[v1, *probe_handlers(readiness)],
        exception_handlers=exception_handlers(),
        request_max_body_size=settings.api_body_limit_bytes,
        openapi_config=_openapi_config(),
        debug=False,
        logging_config=None,
        on_shutdown=[forwarder.aclose] if forwarder is not None else [],
    )
    _declare_closed_bodies(app.openapi_schema)
    return app


def _declare_closed_bodies(openapi: OpenAPI) -> None:
    """Mark the request bodies that reject unknown fields as ``additionalProperties: false``
    (Litestar does not read msgspec's ``forbid_unknown_fields``), so the document says what
    the server enforces. The document is built once and cached: this edits what is served."""
    schemas = openapi.components.schemas if openapi.components else None
    for body in CLOSED_BODIES:
        schema = (schemas or {}).get(body.__name__)
        if schema is not None and body.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False


def v1_guard(*, token: str, readiness: Readiness) -> Guard:
    """The one guard of ``/v1``: credentials (401/403), then leadership (503), then no empty
    path segment (404), then only the query parameters the route declares (422).

    One async guard on purpose: Litestar runs a sync guard in a worker thread and copies the
    handler for every guard it calls."""
    check_credentials = credentials_check(token)
    check_leader = leader_check(readiness)

    async def guard(
        connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        check_credentials(connection)
        check_leader(connection)
        check_path_segments(connection)
        check_query(connection, handler)

    return guard


def _openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Continuum API",
        version=API_VERSION,
        description=(
            "Preview (DryRun), confirm (switchover) and verify (health) moves of the writer "
            "region of a Continuum. Every error is JSON {error, detail}."
        ),
        path="/schema",
        render_plugins=[JsonRenderPlugin(), SwaggerRenderPlugin()],
        components=Components(
            security_schemes={
                "ownerTier": SecurityScheme(
                    type="apiKey",
                    name="X-Catalyst-Owner-Tier",
                    security_scheme_in="header",
                    description="Must be exactly `true` (stamped by catalyst-api).",
                ),
                "bearer": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="CONTINUUM_API_TOKEN, when configured.",
                ),
            }
        ),
        use_handler_docstrings=True,
        create_examples=False,
    )
