"""The pool-domain-manager (PDM) client: a :class:`~continuum.ports.DnsRecords` writer that
commits LUA records with ``POST <base>/v1/lua/commit``.

Contract (integrations.md §4): JSON body ``{"records":[…],"zone":"…"}`` (byte-stable, see
:func:`continuum.switchover.lua.marshal_commit_body`), headers ``Content-Type`` and ``Accept``
``application/json``, optional ``X-Catalyst-Token``. PDM replaces rrsets, so a commit is
idempotent. Works on either anyio backend (httpx).
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from continuum.aclose import AsyncClosing
from continuum.errors import DnsWriteError
from continuum.messages.dns import LuaRecord
from continuum.switchover.lua import marshal_commit_body

COMMIT_PATH = "/v1/lua/commit"
TOKEN_HEADER = "X-Catalyst-Token"
DEFAULT_TIMEOUT_SECONDS = 30.0


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
        a request; :class:`PdmAuthRejected` on 401/403; ``pdm: status N: <body>`` (at most
        256 characters of body) on any other status; ``pdm: http: …`` on a transport error
        or timeout. The token never appears in a message.
        """
        if not self.base_url:
            raise DnsWriteError("pdm: base URL is not configured")
        if not zone:
            raise DnsWriteError("pdm: zone is required")
        if not records:
            raise PdmNothingToCommit("pdm: no records to commit (no-op)")
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
