"""The pool-domain-manager (PDM) client: a :class:`~continuum.ports.DnsRecords` writer that
commits LUA records with ``POST <base>/v1/lua/commit``.

Contract (integrations.md §4): JSON body ``{"records":[…],"zone":"…"}`` (byte-stable, see
:func:`marshal_commit_body`), headers ``Content-Type`` and ``Accept``
``application/json``, optional ``X-Catalyst-Token``. PDM replaces rrsets, so a commit is
idempotent. Works on either anyio backend (httpx).
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import msgspec

from continuum import write_gate
from continuum.aclose import AsyncClosing
from continuum.errors import DnsWriteError
from continuum.messages.dns import LuaRecord

COMMIT_PATH = "/v1/lua/commit"
TOKEN_HEADER = "X-Catalyst-Token"
DEFAULT_TIMEOUT_SECONDS = 30.0


class _WireRecord(msgspec.Struct, kw_only=True, rename="camel"):
    """A record as PDM receives it; field order is the wire key order."""

    hostname: str
    lua_body: str
    ttl: int
    primary_region: str


class _RecordsDocument(msgspec.Struct):
    records: list[_WireRecord]


class _CommitBody(msgspec.Struct, kw_only=True):
    """``POST /v1/lua/commit`` body: keys sorted (``records`` then ``zone``)."""

    records: list[_WireRecord]
    zone: str


_ENCODER = msgspec.json.Encoder()


def marshal_records(records: Sequence[LuaRecord]) -> bytes:
    """``{"records":[…]}``: compact JSON, records sorted by hostname, keys
    ``hostname, luaBody, ttl, primaryRegion``, Go's HTML-safe escaping. Byte-stable."""
    return _go_escape(_ENCODER.encode(_RecordsDocument(records=_wire(records))))


def marshal_commit_body(zone: str, records: Sequence[LuaRecord]) -> bytes:
    """The PDM commit body ``{"records":[…],"zone":"…"}`` (records as in
    :func:`marshal_records`). Byte-stable."""
    return _go_escape(_ENCODER.encode(_CommitBody(records=_wire(records), zone=zone)))


def _wire(records: Sequence[LuaRecord]) -> list[_WireRecord]:
    ordered = sorted(records, key=lambda record: record.hostname)
    return [
        _WireRecord(
            hostname=r.hostname, lua_body=r.body, ttl=r.ttl, primary_region=r.primary_region
        )
        for r in ordered
    ]


_GO_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def _go_escape(document: bytes) -> bytes:
    # These bytes can only occur inside JSON strings, so replacing them is safe.
    for raw, escaped in _GO_ESCAPES:
        document = document.replace(raw, escaped)
    return document


class PdmNothingToCommit(DnsWriteError):
    """``commit`` got no records: nothing was sent (``pdm: no records to commit (no-op)``)."""


class PdmAuthRejected(DnsWriteError):
    """PDM answered 401 or 403: the token is missing or wrong."""


class PdmClient(AsyncClosing):
    """Commits LUA records to PDM at ``base_url`` (``PDM_API_URL``; trailing ``/`` ignored),
    sending ``token`` (``PDM_AUTH_TOKEN``) as ``X-Catalyst-Token`` when non-empty.

    ``timeout`` bounds each request; callers bound the whole step tighter. Use as an async
    context manager or call :meth:`aclose`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str = "",
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers[TOKEN_HEADER] = token
        self._client = httpx.AsyncClient(timeout=timeout, headers=headers)

    async def aclose(self) -> None:
        """Close the HTTP connections. The client is unusable afterwards."""
        await self._client.aclose()

    async def commit(self, zone: str, records: Sequence[LuaRecord]) -> None:
        """Make ``records`` live in ``zone`` through PDM. Returns on any 2xx.

        Raises (all :class:`~continuum.errors.DnsWriteError`): ``pdm: base URL is not
        configured``, ``pdm: zone is required``, :class:`PdmNothingToCommit` — all without
        a request, as while the task's write gate is shut (:mod:`continuum.write_gate`);
        :class:`PdmAuthRejected` on 401/403; ``pdm: status N: <body>`` (at most
        256 characters of body) on any other status; ``pdm: http: …`` on a transport error
        or timeout. The token never appears in a message.
        """
        if not self.base_url:
            raise DnsWriteError("pdm: base URL is not configured")
        if not zone:
            raise DnsWriteError("pdm: zone is required")
        if not records:
            raise PdmNothingToCommit("pdm: no records to commit (no-op)")
        write_gate.check(lambda why: DnsWriteError(f"pdm: not committed: {why}"))
        body = marshal_commit_body(zone, records)
        try:
            response = await self._client.post(self.base_url + COMMIT_PATH, content=body)
        except httpx.HTTPError as error:
            raise DnsWriteError(f"pdm: http: {type(error).__name__}: {error}") from error
        status = response.status_code
        if 200 <= status < 300:
            return
        if status in (401, 403):
            raise PdmAuthRejected(f"pdm: auth rejected (status {status})")
        raise DnsWriteError(f"pdm: status {status}: {response.text[:256]}")
