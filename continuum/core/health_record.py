"""How a post-switchover health check lands in the CR: a pure decision.

A health run ends with a report or with an error. Either way condition
``LastSwitchoverHealthy`` says what it found (:func:`summarize`, :func:`summarize_error`);
a report is also kept as ``lastHealth`` (:func:`landed`: the summary, and each check with its
detail cut to :data:`CHECK_DETAIL_MAX` characters so the status stays within the API
server's limits); a run that errored leaves ``lastHealth`` as it was (:func:`crashed`).

Never does I/O, never reads a clock (``now`` is given), never raises.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

import msgspec

from continuum.messages.status import HealthCheckSummary, LastHealth
from continuum.messages.switchover import HealthReport

__all__ = [
    "CHECK_DETAIL_MAX",
    "HEALTH_ERROR_MESSAGE_MAX",
    "HealthRecord",
    "crashed",
    "landed",
    "summarize",
    "summarize_error",
]

CHECK_DETAIL_MAX: Final = 900
"""Characters of one check's detail kept in ``lastHealth``."""


class HealthRecord(msgspec.Struct, frozen=True, kw_only=True):
    """Set condition ``LastSwitchoverHealthy`` to ``status``/``reason``/``message``; when
    ``last_health`` is not ``None``, write it as ``lastHealth``."""

    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str
    last_health: LastHealth | None = None


def summarize(report: HealthReport) -> tuple[str, str, str]:
    """``(status, reason, message)`` for condition ``LastSwitchoverHealthy``: status
    ``True``/``False``/``Unknown``, reason ``PostSwitchoverHealth``, message
    ``<verdict>: P passed, F failed[, U unknown], D deferred (new primary=<r>[; failed: …])``."""
    deferred = [c for c in report.checks if c.deferred]
    counted = [c for c in report.checks if not c.deferred]
    passed = [c.name for c in counted if c.status == "pass"]
    failed = [c.name for c in counted if c.status == "fail"]
    unknown = [c.name for c in counted if c.status == "unknown"]
    label = {"healthy": "healthy", "unhealthy": "UNHEALTHY", "unknown": "unknown"}[report.verdict]
    counts = f"{len(passed)} passed, {len(failed)} failed"
    if unknown:
        counts += f", {len(unknown)} unknown"
    counts += f", {len(deferred)} deferred"
    tail = f"new primary={report.newPrimaryRegion}"
    if failed:
        tail += f"; failed: {', '.join(failed)}"
    if unknown:
        tail += f"; unknown: {', '.join(unknown)}"
    status = {"healthy": "True", "unhealthy": "False", "unknown": "Unknown"}[report.verdict]
    return status, "PostSwitchoverHealth", f"{label}: {counts} ({tail})"


HEALTH_ERROR_MESSAGE_MAX: Final = 900
"""Characters of a health run's error kept in the condition message."""


def summarize_error(error: str) -> tuple[str, str, str]:
    """``(status, reason, message)`` for condition ``LastSwitchoverHealthy`` when the health
    run itself failed (no report): ``Unknown``, ``HealthCheckErrored``,
    ``PostSwitchoverHealth errored: <first line of error>`` (at most
    :data:`HEALTH_ERROR_MESSAGE_MAX` characters; ``unknown error`` when empty)."""
    first = next((line.strip() for line in error.splitlines() if line.strip()), "")
    message = f"PostSwitchoverHealth errored: {first or 'unknown error'}"
    return "Unknown", "HealthCheckErrored", message[:HEALTH_ERROR_MESSAGE_MAX]


def landed(report: HealthReport, *, switchover_id: str, now: datetime) -> HealthRecord:
    """The record of ``report`` (of run ``switchover_id``, checked at ``now``): the
    condition from :func:`summarize`, and ``lastHealth`` with the summary as its message."""
    status, reason, message = summarize(report)
    return HealthRecord(
        status=status,  # type: ignore[arg-type]
        reason=reason,
        message=message,
        last_health=LastHealth(
            checked_at=now,
            switchover_id=switchover_id,
            to_region=report.newPrimaryRegion,
            verdict=report.verdict,
            summary=message,
            checks=[
                HealthCheckSummary(
                    name=c.name,
                    status=c.status,
                    deferred=c.deferred,
                    detail=c.detail[:CHECK_DETAIL_MAX],
                )
                for c in report.checks
            ],
        ),
    )


def crashed(error: str) -> HealthRecord:
    """The record of a health run that failed with ``error``: the condition from
    :func:`summarize_error`; ``lastHealth`` untouched."""
    status, reason, message = summarize_error(error)
    return HealthRecord(status=status, reason=reason, message=message)  # type: ignore[arg-type]
