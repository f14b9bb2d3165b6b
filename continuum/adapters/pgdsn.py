"""libpq connection strings: parse one into its parts, and keep its password out of text.

Both libpq forms are accepted: the URI (``postgresql://user:pw@host:5432/db?sslmode=require``,
also ``postgres://``) and the keyword form (``host=h port=5432 user=u password='p w'``).
Only one host is supported (a probe targets one server). Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["Dsn", "parse_dsn", "redact_text"]

REDACTED = "***"

_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


@dataclass(frozen=True, kw_only=True, repr=False)
class Dsn:
    """The parts of a DSN the probe uses. ``repr`` shows no password."""

    host: str = "localhost"
    port: int = 5432
    user: str = "postgres"
    password: str | None = field(default=None)
    database: str = "postgres"
    sslmode: str | None = None
    sslrootcert: str | None = None

    @property
    def target(self) -> str:
        """``host:port`` (IPv6 hosts bracketed)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __repr__(self) -> str:
        secret = REDACTED if self.password else None
        return (
            f"Dsn(host={self.host!r}, port={self.port}, user={self.user!r}, password={secret}, "
            f"database={self.database!r}, sslmode={self.sslmode!r})"
        )


def redact_text(text: str, *secrets: str | None) -> str:
    """``text`` in which no non-empty secret occurs any more: each occurrence is replaced by
    ``***`` (or a marker that cannot recreate the secret)."""
    for secret in secrets:
        if not secret:
            continue
        mark = next(m for m in (REDACTED, "<redacted>", "") if secret not in m)
        text = text.replace(secret, mark)
        while secret in text:  # the replacement joined two fragments into a new occurrence
            text = text.replace(secret, "")
    return text


def parse_dsn(dsn: str) -> Dsn:
    """The parts of ``dsn``. Raises ``ValueError`` when the string is malformed, names
    several hosts, or has an unknown ``sslmode``; its message never quotes any part of
    ``dsn`` (a fragment of a malformed DSN may be a fragment of its password)."""
    text = dsn.strip()
    if text.startswith(("postgresql://", "postgres://")):
        params = _parse_uri(text)
    else:
        params = _parse_keywords(text)
    host = params.get("host") or "localhost"
    if "," in host:
        raise ValueError("a DSN with several hosts is not supported")
    port_text = params.get("port") or "5432"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError("invalid port")
    sslmode = params.get("sslmode") or None
    if sslmode is not None and sslmode not in _SSLMODES:
        raise ValueError("unknown sslmode")
    user = params.get("user") or "postgres"
    return Dsn(
        host=host,
        port=int(port_text),
        user=user,
        password=params.get("password") or None,
        database=params.get("dbname") or user,
        sslmode=sslmode,
        sslrootcert=params.get("sslrootcert") or None,
    )


def _parse_uri(text: str) -> dict[str, str]:
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError("malformed DSN URI") from None
    params: dict[str, str] = {}
    if parts.hostname:
        params["host"] = unquote(parts.hostname)
    if port is not None:
        params["port"] = str(port)
    if parts.username:
        params["user"] = unquote(parts.username)
    if parts.password:
        params["password"] = unquote(parts.password)
    database = unquote(parts.path.lstrip("/"))
    if database:
        params["dbname"] = database
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        params[key] = value
    return params


def _parse_keywords(text: str) -> dict[str, str]:
    """libpq's ``key = value`` list: values may be single-quoted, ``\\`` escapes a char."""
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        while i < n and text[i] != "=" and not text[i].isspace():
            i += 1
        key = text[start:i]
        while i < n and text[i].isspace():
            i += 1
        if not key or i >= n or text[i] != "=":
            raise ValueError("malformed keyword list")
        i += 1
        while i < n and text[i].isspace():
            i += 1
        value: list[str] = []
        if i < n and text[i] == "'":
            i += 1
            while True:
                if i >= n:
                    raise ValueError("unterminated quoted value")
                ch = text[i]
                if ch == "\\" and i + 1 < n:
                    value.append(text[i + 1])
                    i += 2
                elif ch == "'":
                    i += 1
                    break
                else:
                    value.append(ch)
                    i += 1
        else:
            while i < n and not text[i].isspace():
                if text[i] == "\\" and i + 1 < n:
                    value.append(text[i + 1])
                    i += 2
                else:
                    value.append(text[i])
                    i += 1
        params[key] = "".join(value)
    return params
