"""A contract server for the lease-witness Worker (lease-witness.md §8.3), with an ATOMIC store.

It speaks exactly the Worker's HTTP contract (routes, bearer auth, ``If-Match``, status codes
and JSON bodies), but keeps the slots in one process and decides every request without an
``await`` between the compare and the write — the semantics a Durable Object gives the real
Worker. The server's clock is authoritative for expiry (one clock decides): pass the same
:class:`~continuum.clock.FakeClock` the test drives.

Additive to the reference contract: ``op: "handover"`` with ``fromHolder`` (one CAS from the
current holder to another), and a ``ttlSeconds`` field in the returned state. Tokens are
compared in constant time.

Usage::

    async with WorkerSim(tokens=("t0k3n",), clock=clock) as worker:
        client = CloudflareKvWitness(base_url=worker.url, token="t0k3n", clock=clock)

asyncio only (aiohttp).
"""

from __future__ import annotations

import hmac
import math
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import msgspec
from aiohttp import web

from continuum.aclose import AsyncStartStop
from continuum.clock import SystemClock
from continuum.errors import LeaseHeldByAnother, LeaseLost
from continuum.messages.lease import Lease
from continuum.ports import Clock
from continuum.witness import rules
from continuum.witness.codec import WorkerState, lease_from_worker, lease_to_worker
from continuum_sim.webserver import LocalWebServer

__all__ = ["WorkerSim"]

_BEARER = re.compile(r"^Bearer\s+(.+)$", re.IGNORECASE)
_IF_MATCH = re.compile(r'^(?:W/)?"?(\d+)"?$')
_ALLOW = "GET, PUT, DELETE, OPTIONS"


class _BadRequest(Exception):
    def __init__(self, error: str, reason: str) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason


def _json(status: int, body: Any) -> web.Response:
    return web.Response(
        status=status, body=msgspec.json.encode(body), content_type="application/json"
    )


def _state_response(status: int, state: WorkerState | None) -> web.Response:
    if state is None:
        return web.Response(status=status)
    return _json(status, state)


class WorkerSim(AsyncStartStop):
    """The Worker contract on ``127.0.0.1:<free port>``; ``url`` has no trailing slash.

    ``slots`` maps slot → stored :class:`~continuum.witness.codec.WorkerState` (KV key
    ``lease:<slot>`` in the real Worker). ``fail_next(n, status)`` makes the next ``n``
    requests answer ``status`` without touching the store; ``requests`` counts requests.
    """

    def __init__(
        self,
        *,
        tokens: tuple[str, ...] = ("test-token",),
        clock: Clock | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.tokens = tokens
        self.clock: Clock = clock or SystemClock()
        self.host = host
        self.slots: dict[str, WorkerState] = {}
        self.requests = 0
        self._failures: list[int] = []
        self._http = LocalWebServer(self._app, hosts=(host,))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._http.port}"

    def fail_next(self, count: int = 1, *, status: int = 500) -> None:
        """Answer the next ``count`` requests with ``status`` (fault injection)."""
        self._failures.extend([status] * count)

    async def start(self) -> None:
        """Listen on a free port of ``host`` (a restart keeps the port)."""
        await self._http.start()

    async def stop(self) -> None:
        """Stop serving (the slots are kept; ``start`` again serves them on the same port)."""
        await self._http.stop()

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    # --- request pipeline ------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self._failures:
            return _json(self._failures.pop(0), {"error": "injected_fault"})
        raw = request.raw_path.split("?", 1)[0]
        if not raw.startswith("/lease/") or raw == "/lease/":
            return _json(404, {"error": "not_found", "reason": "not found"})
        slot = unquote(raw[len("/lease/") :])
        if not self._authorized(request.headers.get("Authorization", "")):
            return _json(401, {"error": "unauthorized"})
        try:
            if request.method == "OPTIONS":
                return web.Response(
                    status=204,
                    headers={
                        "Allow": _ALLOW,
                        "Access-Control-Allow-Methods": "GET, PUT, DELETE",
                        "Access-Control-Allow-Headers": (
                            "Authorization, If-Match, X-Holder, X-Lease-Slot, Content-Type"
                        ),
                    },
                )
            if request.method == "GET":
                return self._get(slot)
            if request.method == "PUT":
                return self._put(slot, await request.read(), request.headers)
            if request.method == "DELETE":
                return self._delete(slot, request.headers)
            return _json(405, {"error": "method_not_allowed"})
        except _BadRequest as bad:
            return _json(400, {"error": bad.error, "reason": bad.reason})
        except Exception as error:  # the contract's catch-all
            return _json(500, {"error": "internal_error", "reason": str(error)})

    def _authorized(self, header: str) -> bool:
        match = _BEARER.match(header)
        if match is None:
            return False
        token = match.group(1).strip().encode()
        # Compare against every allowed token, without short-circuit, in constant time.
        ok = False
        for allowed in self.tokens:
            ok |= hmac.compare_digest(token, allowed.encode())
        return ok

    def _now(self) -> datetime:
        now = self.clock.now().astimezone(UTC)
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def _get(self, slot: str) -> web.Response:
        state = self.slots.get(slot)
        if state is None:
            return _json(404, {"error": "not_found", "reason": "lease not found"})
        return _json(200, state)

    def _put(self, slot: str, raw: bytes, headers: Any) -> web.Response:
        body = _parse_body(raw)
        holder, ttl, op = body["holder"], body["ttlSeconds"], body["op"]
        expected = _if_match(headers)
        stored_state = self.slots.get(slot)
        stored = Lease(key=slot) if stored_state is None else lease_from_worker(slot, stored_state)
        if expected != stored.generation:
            return _state_response(412, stored_state)
        now = self._now()
        ttl = math.floor(ttl * 1000) / 1000
        try:
            if op == "acquire":
                new = rules.decide_acquire(stored, holder, ttl, now)
            elif op == "renew":
                probe = Lease(key=slot, holder=holder, generation=expected)
                new = rules.decide_renew(stored, probe, now, ttl=ttl)
            else:
                probe = Lease(key=slot, holder=body["fromHolder"], generation=expected)
                new = rules.decide_handover(stored, probe, holder, ttl, now)
        except (LeaseHeldByAnother, LeaseLost):
            return _state_response(412, stored_state)
        state = lease_to_worker(new)
        self.slots[slot] = state
        return _json(200, state)

    def _delete(self, slot: str, headers: Any) -> web.Response:
        expected = _if_match(headers)
        caller = str(headers.get("X-Holder", "")).strip()
        if not caller:
            raise _BadRequest("missing_x_holder", "X-Holder header is required")
        stored = self.slots.get(slot)
        if stored is None:
            return web.Response(status=204)
        if stored.generation != expected or stored.holder != caller:
            return _json(412, stored)
        self.slots[slot] = WorkerState(generation=stored.generation + 1)
        return web.Response(status=204)


def _if_match(headers: Any) -> int:
    value = headers.get("If-Match")
    if value is None:
        raise _BadRequest("missing_if_match", "If-Match header is required")
    match = _IF_MATCH.match(str(value).strip())
    if match is None:
        raise _BadRequest("invalid_if_match", f"If-Match must be a generation, got {value!r}")
    return int(match.group(1))


def _parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise _BadRequest("invalid_json", "body is not JSON") from None
    if not isinstance(body, dict):
        raise _BadRequest("invalid_body", "body must be a JSON object")
    holder = body.get("holder")
    if not isinstance(holder, str) or not holder.strip():
        raise _BadRequest("invalid_holder", "holder must be a non-empty string")
    ttl = body.get("ttlSeconds")
    if (
        isinstance(ttl, bool)
        or not isinstance(ttl, int | float)
        or not math.isfinite(ttl)
        or ttl <= 0
    ):
        raise _BadRequest("invalid_ttl", "ttlSeconds must be a positive number")
    op = body.get("op")
    if op not in ("acquire", "renew", "handover"):
        raise _BadRequest("invalid_op", "op must be acquire, renew or handover")
    if op == "handover":
        source = body.get("fromHolder")
        if not isinstance(source, str) or not source.strip():
            raise _BadRequest("invalid_holder", "handover needs a non-empty fromHolder")
    return {**body, "ttlSeconds": float(ttl)}
