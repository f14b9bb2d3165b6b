"""The ``/v1`` checks: owner-tier credentials (optionally with a bearer token), then leadership.

Credentials, checked in this order:

1. when a token is configured, ``Authorization: Bearer <token>`` — absent (or another
   scheme) → 401 ``missing-bearer``; a different token → 401 ``wrong-bearer``. Both 401s
   carry ``WWW-Authenticate: Bearer realm="continuum"``. The comparison is constant-time
   (``hmac.compare_digest`` over bytes), so timing tells nothing about the token;
2. ``X-Catalyst-Owner-Tier: true`` (exact value) — otherwise 403 ``owner-tier``: the
   credentials are valid but do not grant the owner tier.

A denied request is logged (``api_denied`` with the reason, method and path) and counted in
``continuum_api_denied_total``; neither the presented nor the configured token ever appears
in a log line, a response or a metric.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any, Final

from litestar.connection import ASGIConnection

from continuum import metrics
from continuum.http.errors import RETRY_AFTER_NOT_LEADER, WWW_AUTHENTICATE, ApiError
from continuum.http.readiness import Readiness
from continuum.logs import get_logger


def _log() -> Any:
    # Looked up per use: a logger bound at import time would miss configure_logging().
    return get_logger("continuum.http.auth")


OWNER_TIER_HEADER: Final = "x-catalyst-owner-tier"
MISSING_BEARER: Final = "missing-bearer"
WRONG_BEARER: Final = "wrong-bearer"
OWNER_TIER: Final = "owner-tier"


ConnectionCheck = Callable[[ASGIConnection[Any, Any, Any, Any]], None]


def credentials_check(token: str) -> ConnectionCheck:
    """A check requiring the owner tier, and ``Bearer token`` too when ``token`` is non-empty.

    Raises :class:`ApiError` 401 (with ``WWW-Authenticate``) or 403; returns None when the
    request may proceed.
    """
    expected = token.encode("utf-8")

    def check_credentials(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        headers = connection.headers
        if expected:
            presented = _bearer(headers.get("authorization"))
            if presented is None:
                _deny(connection, MISSING_BEARER)
            elif not hmac.compare_digest(presented, expected):
                _deny(connection, WRONG_BEARER)
        if headers.get(OWNER_TIER_HEADER) != "true":
            _deny(connection, OWNER_TIER)

    return check_credentials


def leader_check(readiness: Readiness) -> ConnectionCheck:
    """A check answering 503 with ``Retry-After`` while this replica is not the leader."""

    def check_leader(_connection: ASGIConnection[Any, Any, Any, Any]) -> None:
        if not readiness.is_leader:
            raise ApiError(
                503,
                "this replica is not the leader; retry (the Service routes to the leader)",
                headers={"Retry-After": RETRY_AFTER_NOT_LEADER},
                outcome="not-leader",
            )

    return check_leader


def _bearer(value: str | None) -> bytes | None:
    """The token of an ``Authorization: Bearer <token>`` value, as the raw header bytes."""
    if value is None:
        return None
    scheme, _, credentials = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    # Header values are decoded as latin-1: re-encoding gives back the bytes on the wire.
    return credentials.strip().encode("latin-1", errors="replace")


def _deny(connection: ASGIConnection[Any, Any, Any, Any], reason: str) -> None:
    _log().warning(
        "api_denied",
        reason=reason,
        method=connection.scope.get("method", ""),
        path=connection.url.path,
    )
    metrics.count_api_denied(reason)
    if reason == OWNER_TIER:
        raise ApiError(
            403, "the owner tier is required", detail={"reason": reason}, outcome=f"denied:{reason}"
        )
    raise ApiError(
        401,
        "missing or invalid bearer token",
        detail={"reason": reason},
        headers={"WWW-Authenticate": WWW_AUTHENTICATE},
        outcome=f"denied:{reason}",
    )
