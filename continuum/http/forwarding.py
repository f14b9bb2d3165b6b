"""Forwarding a request for a CR another replica of the region runs (sharding).

With ``CONTINUUM_SHARDING`` each replica runs only its share of the CRs
(``docs/sharding.md``), yet the API is reached through one Service: most requests land on a
replica that does not run the CR they name. :class:`Forwarder`, the ``before_request`` hook of
the per-CR routes, hands such a request to the replica that does — the live peer whose
published view claims the CR, at the API URL it published in its membership Lease
(``CONTINUUM_API_ADVERTISE_URL``) — and answers with that replica's answer, status, body and
the headers a client acts on, unchanged.

What it guarantees:

* It runs after the ``/v1`` guard: a request without valid credentials is refused here and
  never forwarded. The credentials go along, so the peer checks them again.
* A CR this replica runs, or knows to be in conflict, is answered here.
* At most one hop: a forwarded request carries ``X-Continuum-Forwarded-By`` and is always
  answered by the replica that receives it (a stale view answers 404 there, never a loop).
* A peer that does not answer within the timeout: ``503`` with ``Retry-After`` naming the
  peer's URL, never a hang. The membership moves the CR within one lease duration if the peer
  is gone.
* With no directory (sharding off), no peer claiming the CR, or a peer that published no URL:
  the route answers as before (``404`` for a CR it does not run).

``GET /v1/continuums`` (``scope=region``, the default) gathers the lists of the live peers
that published a URL (each asked with ``scope=replica``, the credentials and the forwarding
header) and merges them with this replica's own, one entry per CR; a peer that does not answer
is named in ``X-Continuum-Unreachable-Peers`` and its CRs are missing from that answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Protocol

import anyio
import msgspec
from litestar import Request, Response

from continuum.http.errors import OUTCOME_KEY, RETRY_AFTER_ACTOR, ApiError
from continuum.logs import get_logger
from continuum.messages.requests import ContinuumSummary
from continuum.supervisor.conflicts import Conflicts
from continuum.supervisor.registry import Registry

if TYPE_CHECKING:
    import httpx

__all__ = ["FORWARDED_BY", "UNREACHABLE_PEERS", "Forwarder", "PeerDirectory"]

FORWARDED_BY: Final = "X-Continuum-Forwarded-By"
"""Set on a forwarded request (the forwarding replica's identity): answer it here."""
UNREACHABLE_PEERS: Final = "X-Continuum-Unreachable-Peers"
"""On a region-wide list: the peers (comma-separated URLs) whose CRs are missing from it."""

_log = get_logger("continuum.http")

_SENT: Final = frozenset({"authorization", "x-catalyst-owner-tier", "content-type", "accept"})
"""Request headers that go along to the peer."""
_RETURNED: Final = frozenset({"retry-after", "allow", "www-authenticate"})
"""Answer headers that come back from the peer (and its media type)."""


class PeerDirectory(Protocol):
    """Which peer replica runs a CR (the shard membership's ``peer_url_for``)."""

    @property
    def identity(self) -> str:
        """This replica's identity (sent as ``X-Continuum-Forwarded-By``)."""
        ...

    def peer_url_for(self, key: str) -> str | None:
        """The base URL of the API of the live peer that runs ``key`` (``<ns>/<name>``), or
        ``None`` when the request should be answered here."""
        ...

    def peer_urls(self) -> list[str]:
        """The base URLs of every live peer that published one (this replica excluded)."""
        ...


class Forwarder:
    """The ``before_request`` hook of the per-CR routes (module docstring). ``timeout``
    bounds the whole exchange with the peer."""

    def __init__(
        self,
        *,
        registry: Registry,
        peers: PeerDirectory,
        timeout: float,
        conflicts: Conflicts | None = None,
    ) -> None:
        self._registry = registry
        self._peers = peers
        self._timeout = timeout
        self._conflicts = conflicts
        self._http: httpx.AsyncClient | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> Forwarder:
        # Litestar deep-copies route handlers with their hooks; a copy would hold copies of
        # the registry and the directory, frozen as they were when the app was built.
        return self

    def __copy__(self) -> Forwarder:
        return self

    async def __call__(self, request: Request[Any, Any, Any]) -> Response[bytes] | None:
        """The peer's answer for a CR a peer runs; ``None`` to answer here. Raises
        :class:`~continuum.http.errors.ApiError` (503) when the peer does not answer."""
        if self.forwarded(request):
            return None
        key = f"{request.path_params.get('ns', '')}/{request.path_params.get('name', '')}"
        if self._registry.get(key) is not None:
            return None
        if self._conflicts is not None and self._conflicts.get(key) is not None:
            return None
        base = self._peers.peer_url_for(key)
        if not base:
            return None
        return await self._forward(request, base.rstrip("/"), key)

    async def _forward(
        self, request: Request[Any, Any, Any], base: str, key: str
    ) -> Response[bytes]:
        import httpx

        body = await request.body()
        headers = self._peer_headers(request)
        target = base + request.scope["path"]
        query = request.scope.get("query_string") or b""
        if query:
            target += "?" + query.decode("latin-1")
        try:
            answer = await self._client().request(
                request.method, target, content=body, headers=headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            raise ApiError(
                503,
                f"Continuum {key} runs on another replica ({base}), which did not answer: "
                f"{type(exc).__name__}",
                headers={"Retry-After": RETRY_AFTER_ACTOR},
                outcome="peer-unavailable",
            ) from exc
        request.scope["state"][OUTCOME_KEY] = "forwarded"
        returned = {k: v for k, v in answer.headers.items() if k.lower() in _RETURNED}
        return Response(
            content=answer.content,
            status_code=answer.status_code,
            media_type=answer.headers.get("content-type", "application/json"),
            headers=returned,
        )

    def _peer_headers(self, request: Request[Any, Any, Any]) -> dict[str, str]:
        """The headers a request to a peer carries: the caller's credentials and content
        headers, and this replica's identity as :data:`FORWARDED_BY`."""
        headers = {k: v for k, v in request.headers.items() if k.lower() in _SENT}
        headers[FORWARDED_BY] = self._peers.identity or "peer"
        return headers

    def forwarded(self, request: Request[Any, Any, Any]) -> bool:
        """The request came from a peer (answer it from this replica alone)."""
        return FORWARDED_BY.lower() in request.headers

    async def peer_lists(
        self, request: Request[Any, Any, Any]
    ) -> tuple[list[ContinuumSummary], list[str]]:
        """Every live peer's own list (``scope=replica``), asked concurrently: the summaries,
        and the URLs of the peers that did not answer with one. Never raises."""
        urls = [u.rstrip("/") for u in self._peers.peer_urls()]
        found: list[list[ContinuumSummary]] = [[] for _ in urls]
        unreachable: list[str] = []
        headers = self._peer_headers(request)
        client = self._client()

        async def one(index: int, base: str) -> None:
            try:
                answer = await client.get(
                    f"{base}/v1/continuums",
                    params={"scope": "replica"},
                    headers=headers,
                    timeout=self._timeout,
                )
                if answer.status_code != 200:
                    raise ValueError(f"status {answer.status_code}")
                found[index] = msgspec.json.decode(answer.content, type=list[ContinuumSummary])
            except Exception as exc:  # one peer's failure must not fail the listing
                unreachable.append(base)
                _log.warning("api_peer_list_failed", peer=base, error=type(exc).__name__)

        async with anyio.create_task_group() as tg:
            for index, base in enumerate(urls):
                tg.start_soon(one, index, base)
        return [summary for peer in found for summary in peer], sorted(unreachable)

    def _client(self) -> httpx.AsyncClient:
        import httpx

        if self._http is None:
            self._http = httpx.AsyncClient(trust_env=False)
        return self._http

    async def aclose(self) -> None:
        """Close the connections to the peers (the app's shutdown)."""
        if self._http is not None:
            client, self._http = self._http, None
            await client.aclose()
