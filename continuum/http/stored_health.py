"""``GET …/health`` answered from the CR status, so every region's instance gives the same
answer.

The post-switchover check runs once, in the instance that ran the switchover, and its
summary is written to ``status.lastHealth`` of that region's copy of the CR. Every instance
can read every region's copy, so each one answers with the newest ``lastHealth`` found in
any region's CR status — not with what its own actor happens to remember (after a
switchover, the new region's actor never ran the check).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from continuum.messages.audit import format_timestamp
from continuum.messages.status import LastHealth
from continuum.messages.switchover import HealthCheck, HealthReport

__all__ = ["StoredHealth", "report_from_status"]

StoredHealth = Callable[[str, str], Awaitable[LastHealth | None]]
"""``(namespace, name)`` → the newest ``status.lastHealth`` across the regions' copies of
the CR, ``None`` when no copy has one (or none could be read)."""


def report_from_status(last: LastHealth) -> HealthReport:
    """The HealthReport that ``last`` summarises: verdict, new primary, each check's status
    and detail, ``generatedAt`` = ``checkedAt``. Per-check durations and DNS probe lists are
    not kept in status (``?fresh=true`` computes a full report)."""
    return HealthReport(
        newPrimaryRegion=last.to_region,
        checks=[
            HealthCheck(
                name=check.name,
                status=check.status,
                passed=check.status == "pass",
                deferred=check.deferred,
                detail=check.detail,
            )
            for check in last.checks
        ],
        verdict=last.verdict,
        generatedAt=format_timestamp(last.checked_at),
        overallHealthy=last.verdict == "healthy",
    )
