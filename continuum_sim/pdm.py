"""A PDM (pool-domain-manager) contract server: ``POST /v1/lua/commit`` on loopback, in
process (aiohttp, asyncio only).

It checks what the real PDM checks — JSON body ``{"records":[{hostname, luaBody, ttl,
primaryRegion}], "zone"}``, the ``X-Catalyst-Token`` when a token is configured — records every
accepted commit (with the raw body, for byte-level assertions), can fail the next requests
on demand, and can write each commit through to a PowerDNS API so a demo runs PDM end to end.
"""

from __future__ import annotations

import hmac

import msgspec
from aiohttp import web

from continuum.aclose import AsyncStartStop
from continuum.adapters.powerdns import PowerDnsApi
from continuum.errors import DnsWriteError
from continuum.messages.dns import LuaRecord
from continuum_sim.webserver import LocalWebServer


class _WireRecord(msgspec.Struct, kw_only=True, rename="camel", forbid_unknown_fields=True):
    hostname: str
    lua_body: str
    ttl: int
    primary_region: str


class _CommitRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    records: list[_WireRecord]
    zone: str


class PdmCommit(msgspec.Struct, frozen=True, kw_only=True):
    """One accepted commit, as received."""

    zone: str
    records: tuple[LuaRecord, ...]
    raw_body: bytes


class PdmServer(AsyncStartStop):
    """The contract server. ``async with PdmServer(token="t") as pdm:`` → ``pdm.url``.

    ``powerdns``: when given, every accepted commit is also written to that PowerDNS API
    (``commit``); a failure there answers 502 and the commit is not recorded.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        token: str = "",
        powerdns: PowerDnsApi | None = None,
    ) -> None:
        self.host = host
        self.token = token
        self.powerdns = powerdns
        self.commits: list[PdmCommit] = []
        self.requests = 0
        self._faults: list[tuple[int, str]] = []
        self._http = LocalWebServer(self._app, hosts=(host,))

    @property
    def port(self) -> int:
        """The listening port (0 before the first start)."""
        return self._http.port

    @property
    def url(self) -> str:
        """Base URL (``http://host:port``, no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def fail_next(self, status: int, *, times: int = 1, body: str = "injected failure") -> None:
        """Answer the next ``times`` requests with ``status`` and ``body``, before any check."""
        self._faults.extend([(status, body)] * times)

    async def start(self) -> None:
        """Listen on a free port of ``host``. Restarting keeps the port when it is free."""
        await self._http.start()

    async def stop(self) -> None:
        """Stop listening and close open connections. Idempotent."""
        await self._http.stop()

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/lua/commit", self._commit)
        return app

    async def _commit(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self._faults:
            status, body = self._faults.pop(0)
            return web.Response(status=status, text=body)
        if self.token and not hmac.compare_digest(
            request.headers.get("X-Catalyst-Token", "").encode(), self.token.encode()
        ):
            return _error(401, "missing or invalid X-Catalyst-Token")
        if request.content_type != "application/json":
            return _error(415, "Content-Type must be application/json")
        raw = await request.read()
        try:
            parsed = msgspec.json.decode(raw, type=_CommitRequest)
        except msgspec.DecodeError as error:
            return _error(400, f"invalid body: {error}")
        if not parsed.zone or not parsed.records:
            return _error(400, "zone and at least one record are required")
        records = tuple(
            LuaRecord(
                hostname=r.hostname, body=r.lua_body, ttl=r.ttl, primary_region=r.primary_region
            )
            for r in parsed.records
        )
        if self.powerdns is not None:
            try:
                await self.powerdns.commit(parsed.zone, records)
            except DnsWriteError as error:
                return _error(502, f"powerdns write failed: {error}")
        self.commits.append(PdmCommit(zone=parsed.zone, records=records, raw_body=raw))
        return web.json_response({"committed": len(records), "zone": parsed.zone})


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
