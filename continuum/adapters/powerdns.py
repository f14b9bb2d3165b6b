"""The PowerDNS Authoritative HTTP API (``/api/v1``) as a :class:`~continuum.ports.DnsRecords`
writer, plus the zone and TXT helpers a DNS-quorum witness needs.

Every call is one HTTP request with header ``X-API-Key``; every failure — transport error,
timeout, 401/403, any non-2xx — raises :class:`~continuum.errors.DnsWriteError` naming the
API URL and the status, never the key. Reads raise it too: "the API could not be used".

PowerDNS 4.7 stores a LUA record as ``<type> "<lua code>"`` and does not unescape ``\\"``
inside that string (it turns the quote into a space, so the Lua breaks). The synthesised
bodies use double-quoted Lua strings (the PDM contract and the goldens), so this writer
swaps them for single quotes, which Lua reads identically. A body that needs both quote
kinds, or a backslash, cannot be written and raises ``DnsWriteError`` before any request.

Works on either anyio backend (httpx).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from continuum import write_gate
from continuum.aclose import AsyncClosing
from continuum.errors import DnsWriteError
from continuum.messages.dns import LuaRecord


class PdnsRecord(msgspec.Struct, kw_only=True):
    content: str
    disabled: bool = False


class PdnsRRSet(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One rrset as the API reads and patches it (names are absolute: trailing dot)."""

    name: str
    type: str
    ttl: int
    changetype: str = ""
    records: list[PdnsRecord] = msgspec.field(default_factory=list)


class _Zone(msgspec.Struct, kw_only=True):
    name: str
    rrsets: list[PdnsRRSet] = msgspec.field(default_factory=list)


class _ZoneCreate(msgspec.Struct, kw_only=True):
    name: str
    kind: str
    nameservers: list[str]


class _RRSetPatch(msgspec.Struct):
    rrsets: list[PdnsRRSet]


def absolute(name: str) -> str:
    """``name`` with exactly one trailing dot (PowerDNS API names are absolute)."""
    return name.rstrip(".") + "."


def lua_content(record: LuaRecord) -> str:
    """The API ``content`` of a LUA record: ``A "<body>"`` with Lua strings single-quoted.

    Raises :class:`DnsWriteError` when the body cannot be represented (see module doc).
    """
    body = record.body
    if "\\" in body or ('"' in body and "'" in body):
        raise DnsWriteError(
            f"powerdns: LUA body for {record.hostname} cannot be stored by PowerDNS "
            "(it needs both quote kinds or a backslash)"
        )
    return f'{record.type} "{body.replace(chr(34), chr(39))}"'


def txt_content(value: str) -> str:
    """A TXT ``content`` (one quoted character-string) for ``value``.

    Raises :class:`DnsWriteError` for values PowerDNS would not round-trip (quotes,
    backslashes, non-printable or non-ASCII characters, more than 255 bytes).
    """
    if len(value) > 255 or not all(" " <= ch <= "~" and ch not in '"\\' for ch in value):
        raise DnsWriteError(f"powerdns: TXT value not storable verbatim: {value[:40]!r}")
    return f'"{value}"'


class PowerDnsApi(AsyncClosing):
    """A client of one PowerDNS server's API (``api_url`` like ``http://127.0.0.1:8081``).

    Use as an async context manager or call :meth:`aclose`. Safe for concurrent calls.
    ``timeout`` bounds each request (connect, read and write).
    """

    def __init__(
        self,
        api_url: str,
        api_key: str,
        *,
        server_id: str = "localhost",
        timeout: float = 5.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._base = f"{self.api_url}/api/v1/servers/{quote(server_id, safe='')}"
        self._client = httpx.AsyncClient(
            timeout=timeout,
            headers={"X-API-Key": api_key, "Accept": "application/json"},
        )

    async def aclose(self) -> None:
        """Close the HTTP connections. The client is unusable afterwards."""
        await self._client.aclose()

    # --- zones ------------------------------------------------------------------------

    async def zone_exists(self, zone: str) -> bool:
        """Whether ``zone`` exists on the server. Raises ``DnsWriteError``."""
        response = await self._request("GET", self._zone_path(zone), allow=(404,))
        return response.status_code != 404

    async def create_zone(self, zone: str, *, nameservers: Sequence[str] = ()) -> None:
        """Create a Native zone. Raises ``DnsWriteError`` (also when it already exists)."""
        body = _ZoneCreate(
            name=absolute(zone), kind="Native", nameservers=[absolute(n) for n in nameservers]
        )
        await self._request("POST", "/zones", content=msgspec.json.encode(body))

    async def ensure_zone(self, zone: str, *, nameservers: Sequence[str] = ()) -> None:
        """Create ``zone`` unless it exists (a concurrent creator winning is fine).
        Never changes an existing zone. Raises ``DnsWriteError``."""
        if await self.zone_exists(zone):
            return
        body = _ZoneCreate(
            name=absolute(zone), kind="Native", nameservers=[absolute(n) for n in nameservers]
        )
        await self._request("POST", "/zones", content=msgspec.json.encode(body), allow=(409,))

    async def rrsets(self, zone: str) -> list[PdnsRRSet]:
        """Every rrset of ``zone`` as stored. Raises ``DnsWriteError`` (also for no zone)."""
        response = await self._request("GET", self._zone_path(zone))
        zone_doc: _Zone = _decode(response, _Zone)
        return zone_doc.rrsets

    # --- LUA records (the DnsRecords port) --------------------------------------------

    async def commit(self, zone: str, records: Sequence[LuaRecord]) -> None:
        """Replace the LUA rrset of every hostname in ``records`` in one PATCH (atomic on
        the server). Idempotent. Empty ``records`` or an empty zone raise ``DnsWriteError``
        without a request, as does a shut write gate (:mod:`continuum.write_gate`); a hostname
        outside ``zone`` raises it too (422 from the server)."""
        if not zone:
            raise DnsWriteError("powerdns: zone is required")
        if not records:
            raise DnsWriteError("powerdns: no records to commit (no-op)")
        write_gate.check(lambda why: DnsWriteError(f"powerdns: not committed: {why}"))
        by_name: dict[str, PdnsRRSet] = {}
        for record in sorted(records, key=lambda r: (r.hostname, r.type)):
            name = absolute(record.hostname)
            rrset = by_name.setdefault(
                name, PdnsRRSet(name=name, type="LUA", ttl=record.ttl, changetype="REPLACE")
            )
            rrset.ttl = min(rrset.ttl, record.ttl)
            rrset.records.append(PdnsRecord(content=lua_content(record)))
        await self.patch_rrsets(zone, list(by_name.values()))

    async def differing(self, zone: str, records: Sequence[LuaRecord]) -> list[str]:
        """Hostnames of ``records`` whose stored LUA rrset does not hold exactly the given
        record's content (absent included). One GET of the zone; never writes. Raises
        ``DnsWriteError``."""
        stored: dict[str, set[str]] = {}
        for rrset in await self.rrsets(zone):
            if rrset.type == "LUA":
                stored[rrset.name] = {r.content for r in rrset.records if not r.disabled}
        wrong: list[str] = []
        for record in records:
            if stored.get(absolute(record.hostname)) != {lua_content(record)}:
                wrong.append(record.hostname)
        return wrong

    async def patch_rrsets(self, zone: str, rrsets: Sequence[PdnsRRSet]) -> None:
        """Apply ``rrsets`` (each with its ``changetype``) to ``zone`` in one PATCH.
        Raises ``DnsWriteError``."""
        body = msgspec.json.encode(_RRSetPatch(rrsets=list(rrsets)))
        await self._request("PATCH", self._zone_path(zone), content=body)

    # --- TXT helpers (witness slots) --------------------------------------------------

    async def write_txt(self, zone: str, name: str, values: Sequence[str], *, ttl: int = 0) -> None:
        """Make ``values`` the TXT rrset of ``name`` (empty ``values`` deletes it).
        Raises ``DnsWriteError``."""
        rrset = PdnsRRSet(name=absolute(name), type="TXT", ttl=ttl)
        if values:
            rrset.changetype = "REPLACE"
            rrset.records = [PdnsRecord(content=txt_content(v)) for v in values]
        else:
            rrset.changetype = "DELETE"
        await self.patch_rrsets(zone, [rrset])

    async def read_txt(self, zone: str, name: str) -> list[str]:
        """The TXT values of ``name`` as written by :meth:`write_txt` (``[]`` when absent),
        read through the API (not DNS). Raises ``DnsWriteError``."""
        wanted = absolute(name).lower()
        for rrset in await self.rrsets(zone):
            if rrset.type == "TXT" and rrset.name.lower() == wanted:
                return sorted(_unquote_txt(r.content) for r in rrset.records if not r.disabled)
        return []

    # --- plumbing ---------------------------------------------------------------------

    def _zone_path(self, zone: str) -> str:
        return f"/zones/{quote(absolute(zone), safe='.')}"

    async def _request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        allow: tuple[int, ...] = (),
    ) -> httpx.Response:
        headers = {"Content-Type": "application/json"} if content is not None else None
        try:
            response = await self._client.request(
                method, self._base + path, content=content, headers=headers
            )
        except httpx.HTTPError as error:
            raise DnsWriteError(
                f"powerdns: http: {method} {self.api_url}{path}: {type(error).__name__}: {error}"
            ) from error
        if response.is_success or response.status_code in allow:
            return response
        if response.status_code in (401, 403):
            raise DnsWriteError(
                f"powerdns: auth rejected (status {response.status_code}) by {self.api_url}"
            )
        raise DnsWriteError(
            f"powerdns: {method} {path}: status {response.status_code}: {response.text[:256]}"
        )


def _decode(response: httpx.Response, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(response.content, type=kind)
    except msgspec.DecodeError as error:
        raise DnsWriteError(f"powerdns: unexpected response: {error}") from error


def _unquote_txt(content: str) -> str:
    # The API returns TXT content as one or more quoted strings: "a" "b" → "ab".
    parts = content.split('" "')
    return "".join(parts).removeprefix('"').removesuffix('"')
