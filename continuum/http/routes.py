"""The route handlers. They validate input, find the CR's actor and ``ask`` it; nothing else.

No handler holds domain state: every answer comes from the actor that owns the CR, looked up
in the registry on each request (a restarted actor has a new ref). Failures are raised and
turned into responses by ``continuum.http.errors``.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import anyio
import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import ResponseHeader
from litestar.handlers import HTTPRouteHandler
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Operation
from litestar.params import JSONBody, Parameter, QueryParameter

from continuum.actors.replies import SwitchoverRefused
from continuum.actors.runtime import ActorDead, ActorRef, AskTimeout, ReplyError
from continuum.core.ownership import Conflict, conflict_report
from continuum.http.errors import ApiError, ErrorBody, RefusalBody
from continuum.http.forwarding import UNREACHABLE_PEERS, Forwarder
from continuum.http.readiness import Readiness
from continuum.http.stored_health import StoredHealth, report_from_status
from continuum.messages.audit import format_timestamp
from continuum.messages.requests import (
    ContinuumSummary,
    DryRunRequest,
    HealthRequest,
    RefusalDetail,
    StatusRequest,
    SwitchoverAccepted,
    SwitchoverRequest,
)
from continuum.messages.status import COND_CONFLICT, Condition
from continuum.messages.switchover import DryRunReport, HealthReport
from continuum.supervisor.conflicts import Conflicts
from continuum.supervisor.registry import Registry

DNS1123_LABEL: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_SUBDOMAIN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

Namespace = Annotated[
    str,
    Parameter(
        pattern=DNS1123_LABEL,
        min_length=1,
        max_length=63,
        description="The CR's namespace (a DNS-1123 label).",
    ),
]
Name = Annotated[
    str,
    Parameter(
        pattern=DNS1123_SUBDOMAIN,
        min_length=1,
        max_length=253,
        description="The CR's name (a DNS-1123 subdomain).",
    ),
]
Scope = Annotated[
    Literal["region", "replica"],
    QueryParameter(
        name="scope",  # not the handler's own name: "scope" is Litestar's ASGI scope
        description="`region`: every CR of the region, the peers' included when sharded; "
        "`replica`: only those this replica runs.",
    ),
]
Fresh = Annotated[
    bool,
    Parameter(description="Recompute the report now instead of returning the latest one."),
]

LIST_CONCURRENCY: Final = 16
"""At most this many actors are asked at once by ``GET /v1/continuums``."""


class ReadyStatus(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /readyz``: ``ready`` and, when not, why (``not-leader``, ``watch-not-synced``,
    ``audit-not-ready``)."""

    ready: bool
    reasons: list[str]


@dataclasses.dataclass
class ApiOperation(Operation):
    """The OpenAPI operation of every route: drops the ``400`` Litestar adds for handlers with
    parameters — this API answers validation failures with ``422`` (declared per route)."""

    def __post_init__(self) -> None:
        if self.responses:
            self.responses.pop("400", None)


def _err(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)


_RETRY_AFTER = ResponseHeader(
    name="Retry-After",
    value="5",
    description="Seconds to wait before retrying.",
    documentation_only=True,
)
_UNREACHABLE_PEERS = ResponseHeader(
    name=UNREACHABLE_PEERS,
    value="http://10.244.1.7:8082",
    description="Region-wide list only: the peer replicas that did not answer (their CRs "
    "are missing).",
    documentation_only=True,
)
_COMMON: Final[dict[int, ResponseSpec]] = {
    401: _err("Bearer token missing or wrong (only when a token is configured)."),
    404: _err("No such Continuum here, or a path with an empty segment."),
    403: _err("Valid credentials without the owner tier."),
    503: _err(
        "Not the leader, the CR's actor is (re)starting, or the replica that runs it did not "
        "answer; see Retry-After."
    ),
    504: _err("The CR's actor did not answer in time."),
}
_LIST: Final[dict[int, ResponseSpec]] = {
    **_COMMON,
    422: _err("A scope other than region or replica, or an unknown query parameter."),
}
_ONE_CR: Final[dict[int, ResponseSpec]] = {
    **_COMMON,
    422: _err("Malformed namespace/name or body; detail lists the fields."),
}
_WITH_BODY: Final[dict[int, ResponseSpec]] = {
    **_ONE_CR,
    413: _err("Request body over the size limit."),
}
_DRY_RUN: Final[dict[int, ResponseSpec]] = {
    **_WITH_BODY,
    409: ResponseSpec(
        data_container=RefusalBody,
        description="The CR's spec is not valid; nothing can be planned.",
        generate_examples=False,
    ),
}
_HEALTH: Final[dict[int, ResponseSpec]] = {
    **_ONE_CR,
    409: _err("The CR is in conflict with an earlier Continuum; it never acts."),
}
_SWITCHOVER: Final[dict[int, ResponseSpec]] = {
    **_WITH_BODY,
    409: ResponseSpec(
        data_container=RefusalBody,
        description="Refused: fingerprint mismatch, blockers, a switchover already running, "
        "an invalid spec, or a conflict with an earlier Continuum (reason conflict). detail "
        "carries the current DryRun report.",
        generate_examples=False,
    ),
}


QUERY_OPT: Final = "query"
"""``opt`` key of a handler: the query parameter names it declares (others are refused)."""


def check_query(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """422 for a query parameter the route does not declare (the document lists every
    parameter a route accepts; an unknown one is a client error, never silently ignored)."""
    allowed: frozenset[str] = handler.opt.get(QUERY_OPT, frozenset())
    unknown = sorted(set(connection.query_params) - allowed)
    if unknown:
        raise ApiError(
            422,
            "invalid request",
            detail=[
                {"field": f"query.{name}", "message": "unknown query parameter"} for name in unknown
            ],
            outcome="invalid",
        )


def check_path_segments(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """404 for a path with an empty segment (``/v1/continuums/ns//health``): the router
    collapses ``//``, which would otherwise address a different CR (``ns/health``)."""
    raw = connection.scope.get("raw_path") or connection.scope["path"].encode()
    if b"//" in raw.split(b"?", 1)[0]:
        raise ApiError(404, "empty path segment: expected /v1/continuums/{ns}/{name}[/verb]")


async def reject_unknown_query(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard form of :func:`check_query` (async: Litestar runs sync guards in a thread)."""
    check_query(connection, handler)


def _key(ns: str, name: str) -> str:
    return f"{ns}/{name}"


class ContinuumRoutes:
    """The ``/v1`` handlers, bound to one registry and one ask timeout."""

    def __init__(
        self,
        *,
        registry: Registry,
        ask_timeout: float,
        region: str = "",
        stored_health: StoredHealth | None = None,
        conflicts: Conflicts | None = None,
        forwarder: Forwarder | None = None,
    ) -> None:
        self._registry = registry
        self._forwarder = forwarder
        self._ask_timeout = ask_timeout
        self._region = region
        self._stored_health = stored_health
        self._conflicts = conflicts

    def _conflict(self, ns: str, name: str) -> Conflict | None:
        """The conflict that keeps ``ns/name`` from acting (it then has no actor), if any."""
        key = _key(ns, name)
        if self._conflicts is None or self._registry.get(key) is not None:
            return None
        return self._conflicts.get(key)

    def _conflict_summary(self, ns: str, name: str, conflict: Conflict) -> ContinuumSummary:
        return ContinuumSummary(
            namespace=ns,
            name=name,
            region=self._region,
            acting=False,
            phase="Failed",
            specError=conflict.message,
            conditions=[
                Condition(
                    type=COND_CONFLICT,
                    status="True",
                    reason="ClaimedByAnother",
                    message=conflict.message,
                )
            ],
        )

    def _actor(self, ns: str, name: str) -> ActorRef:
        ref = self._registry.get(_key(ns, name))
        if ref is None:
            raise ApiError(404, f"Continuum {ns}/{name} not found", outcome="not-found")
        return ref

    async def _ask(self, ns: str, name: str, message: msgspec.Struct) -> Any:
        return await self._actor(ns, name).ask(message, timeout=self._ask_timeout)

    async def _summary(self, ref: ActorRef) -> ContinuumSummary:
        """The actor's summary: its view when it serves views (never behind a message in
        flight), otherwise a ``StatusRequest`` through its mailbox."""
        if ref.serves_views:
            summary: ContinuumSummary = await ref.view(timeout=self._ask_timeout)
        else:
            summary = await ref.ask(StatusRequest(), timeout=self._ask_timeout)
        return summary

    def handlers(self) -> list[HTTPRouteHandler]:
        """The ``/v1`` route handlers (paths relative to ``/v1``)."""
        common: dict[str, Any] = {
            "operation_class": ApiOperation,
            "tags": ["continuums"],
        }
        retry = [_RETRY_AFTER]
        # The per-CR routes: a CR another replica of the region runs is answered by it
        # (continuum.http.forwarding).
        one: dict[str, Any] = {**common, "before_request": self._forwarder}

        @get(
            "/continuums",
            responses=_LIST,
            response_headers=[*retry, _UNREACHABLE_PEERS],
            opt={QUERY_OPT: frozenset({"scope"})},
            **common,
        )
        async def list_continuums(
            request: Request[Any, Any, Any], listing: Scope = "region"
        ) -> Response[list[ContinuumSummary]]:
            """Every Continuum with its status summary, sorted by namespace and name.

            ``scope=replica``: those this replica runs an actor for. ``scope=region`` (the
            default): with sharding, also those its live peers run (each peer asked for its
            own list); a peer that does not answer is named in
            ``X-Continuum-Unreachable-Peers`` and its CRs are missing. Without sharding both
            are the same. Actors are asked concurrently (at most 16 at a time); one that
            cannot answer (restarting, timed out) is listed with phase ``Unknown``.
            """
            own = await self.list_summaries()
            forwarder = self._forwarder
            if listing == "replica" or forwarder is None or forwarder.forwarded(request):
                return Response(_sorted(own))
            theirs, unreachable = await forwarder.peer_lists(request)
            mine = {(s.namespace, s.name) for s in own}
            merged = own + [s for s in theirs if (s.namespace, s.name) not in mine]
            headers = {UNREACHABLE_PEERS: ",".join(unreachable)} if unreachable else {}
            return Response(_sorted(merged), headers=headers)

        @get("/continuums/{ns:str}/{name:str}", responses=_ONE_CR, response_headers=retry, **one)
        async def get_continuum(ns: Namespace, name: Name) -> ContinuumSummary:
            """The status summary of one Continuum as this replica sees it (a CR in conflict
            with an earlier one: phase ``Failed`` and its ``Conflict`` condition)."""
            conflict = self._conflict(ns, name)
            if conflict is not None:
                return self._conflict_summary(ns, name, conflict)
            return await self._summary(self._actor(ns, name))

        @post(
            "/continuums/{ns:str}/{name:str}/dry-run",
            status_code=200,
            responses=_DRY_RUN,
            response_headers=retry,
            **one,
        )
        async def dry_run(ns: Namespace, name: Name, data: JSONBody[DryRunRequest]) -> DryRunReport:
            """Preview a switchover to ``toRegion``: the seven steps, blockers, warnings and the
            plan fingerprint. Read-only end to end (no write to any API, no audit event).
            A CR in conflict is blocked at step 1 by a blocker naming the owner."""
            conflict = self._conflict(ns, name)
            if conflict is not None:
                return _blocked(conflict)
            report: DryRunReport = await self._ask(ns, name, data)
            return report

        @get(
            "/continuums/{ns:str}/{name:str}/health",
            responses=_HEALTH,
            response_headers=retry,
            opt={QUERY_OPT: frozenset({"fresh"})},
            **one,
        )
        async def health(ns: Namespace, name: Name, fresh: Fresh = False) -> HealthReport:
            """The latest post-switchover HealthReport, as stored in the CR status (the same
            answer from every region's instance), computed now when there is none yet or when
            ``fresh=true``. 409 for a CR in conflict (it never acts)."""
            conflict = self._conflict(ns, name)
            if conflict is not None:
                raise ApiError(409, conflict.message, outcome="conflict")
            if not fresh and self._stored_health is not None:
                self._actor(ns, name)  # 404 for a CR this replica does not run
                with anyio.move_on_after(self._ask_timeout):
                    stored = await self._stored_health(ns, name)
                    if stored is not None:
                        return report_from_status(stored)
            report: HealthReport = await self._ask(ns, name, HealthRequest(fresh=fresh))
            return report

        @post(
            "/continuums/{ns:str}/{name:str}/switchover",
            status_code=202,
            responses=_SWITCHOVER,
            response_headers=retry,
            **one,
        )
        async def switchover(
            ns: Namespace, name: Name, data: JSONBody[SwitchoverRequest]
        ) -> SwitchoverAccepted:
            """Start a switchover to ``toRegion`` — only when ``fingerprint`` equals the current
            DryRun's plan fingerprint and that DryRun has no blockers (the Confirm Switchover
            button). 202: started; follow it with ``GET /v1/continuums/{ns}/{name}``."""
            conflict = self._conflict(ns, name)
            if conflict is not None:
                detail = RefusalDetail(
                    reason="conflict", message=conflict.message, report=_blocked(conflict)
                )
                raise SwitchoverRefused(detail)
            if not data.initiatedBy:
                data = msgspec.structs.replace(data, initiatedBy="api")
            accepted: SwitchoverAccepted = await self._ask(ns, name, data)
            return accepted

        return [list_continuums, get_continuum, dry_run, health, switchover]

    async def list_summaries(self) -> list[ContinuumSummary]:
        """Every registered actor's summary, in registry order: read at once from each actor
        whose view needs no wait, then from the others (starting, or without views) at most
        :data:`LIST_CONCURRENCY` at a time. A dead or unanswering actor is listed with phase
        ``Unknown``."""
        keys = self._registry.keys()
        results: list[ContinuumSummary | None] = [None] * len(keys)
        waiting: list[tuple[int, str]] = []
        for index, key in enumerate(keys):
            # Most actors are between messages or serve the view of the one they handle:
            # read those in this pass, and only the others (starting) in tasks.
            ref = self._registry.get(key)
            if ref is None or not ref.serves_views:
                waiting.append((index, key))
                continue
            try:
                results[index] = ref.view_nowait()
            except anyio.WouldBlock:
                waiting.append((index, key))
            except ActorDead:
                results[index] = self._unknown(key)
        limiter = anyio.CapacityLimiter(LIST_CONCURRENCY)

        async def one(index: int, key: str) -> None:
            async with limiter:
                ref = self._registry.get(key)
                if ref is None:
                    return
                try:
                    results[index] = await self._summary(ref)
                except (ActorDead, AskTimeout, ReplyError):
                    results[index] = self._unknown(key)

        if waiting:
            async with anyio.create_task_group() as tg:
                for index, key in waiting:
                    tg.start_soon(one, index, key)
        return [r for r in results if r is not None]

    def _unknown(self, key: str) -> ContinuumSummary:
        ns, _, name = key.partition("/")
        return ContinuumSummary(
            namespace=ns, name=name, region=self._region, acting=False, phase="Unknown"
        )


def _sorted(summaries: list[ContinuumSummary]) -> list[ContinuumSummary]:
    """One entry per CR, by namespace and name."""
    by_key = {(s.namespace, s.name): s for s in reversed(summaries)}  # the first one wins
    return [by_key[key] for key in sorted(by_key)]


def _blocked(conflict: Conflict) -> DryRunReport:
    return conflict_report(conflict, generated_at=format_timestamp(datetime.now(UTC)))


def probe_handlers(readiness: Readiness) -> list[HTTPRouteHandler]:
    """``GET /healthz`` (liveness: the process serves HTTP) and ``GET /readyz`` (readiness:
    leader, watch synced, audit ready). No auth on either."""

    @get(
        "/healthz",
        media_type=MediaType.TEXT,
        operation_class=ApiOperation,
        tags=["probes"],
        guards=[reject_unknown_query],
        sync_to_thread=False,
        responses={422: _err("Unknown query parameter.")},
    )
    def healthz() -> str:
        """Liveness: ``ok`` while the process serves HTTP."""
        return "ok"

    @get(
        "/readyz",
        operation_class=ApiOperation,
        tags=["probes"],
        guards=[reject_unknown_query],
        sync_to_thread=False,
        responses={
            422: _err("Unknown query parameter."),
            503: ResponseSpec(
                data_container=ReadyStatus,
                description="Not ready; reasons says why.",
                generate_examples=False,
            ),
        },
    )
    def readyz() -> Response[ReadyStatus]:
        """Readiness: 200 only on the leader with its watch synced and audit ready."""
        reasons = readiness.reasons()
        return Response(
            ReadyStatus(ready=not reasons, reasons=reasons),
            status_code=503 if reasons else 200,
            media_type=MediaType.JSON,
        )

    return [healthz, readyz]
