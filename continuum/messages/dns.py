"""DNS record shapes shared by the LUA synthesis, the writers and status."""

from __future__ import annotations

import msgspec


class LuaRecord(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One PowerDNS LUA record as committed (and mirrored in ``status.lastLuaRecord``)."""

    hostname: str
    body: str
    ttl: int
    primary_region: str
    type: str = "A"
