"""How a health check lands in the CR (``continuum/core/health_record.py``): the condition
for each verdict, ``lastHealth`` from a report, nothing kept from a run that errored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from continuum.core.health_record import (
    CHECK_DETAIL_MAX,
    HEALTH_ERROR_MESSAGE_MAX,
    HealthRecord,
    crashed,
    landed,
    summarize,
    summarize_error,
)
from continuum.messages.status import HealthCheckSummary
from continuum.messages.switchover import HealthCheck, HealthReport

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _check(name: str, status: str, *, deferred: bool = False, detail: str = "") -> HealthCheck:
    return HealthCheck(
        name=name,
        status=status,  # type: ignore[arg-type]
        passed=status == "pass",
        deferred=deferred,
        detail=detail,
    )


def _report(verdict: str, *checks: HealthCheck) -> HealthReport:
    return HealthReport(
        newPrimaryRegion="region-b",
        checks=list(checks),
        verdict=verdict,  # type: ignore[arg-type]
        generatedAt="2026-01-01T00:00:00Z",
        overallHealthy=verdict == "healthy",
    )


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        (
            _report("healthy", _check("a", "pass"), _check("b", "unknown", deferred=True)),
            ("True", "healthy: 1 passed, 0 failed, 1 deferred (new primary=region-b)"),
        ),
        (
            _report("unhealthy", _check("a", "pass"), _check("b", "fail")),
            (
                "False",
                "UNHEALTHY: 1 passed, 1 failed, 0 deferred (new primary=region-b; failed: b)",
            ),
        ),
        (
            _report("unknown", _check("a", "unknown"), _check("b", "fail", deferred=True)),
            (
                "Unknown",
                "unknown: 0 passed, 0 failed, 1 unknown, 1 deferred "
                "(new primary=region-b; unknown: a)",
            ),
        ),
    ],
)
def test_each_verdict_has_its_condition(report: HealthReport, expected: tuple[str, str]) -> None:
    status, message = expected
    assert summarize(report) == (status, "PostSwitchoverHealth", message)


def test_a_report_lands_as_the_condition_and_last_health() -> None:
    report = _report("healthy", _check("a", "pass", detail="x" * 2000), _check("b", "pass"))
    record = landed(report, switchover_id="sw", now=NOW)
    assert (record.status, record.reason) == ("True", "PostSwitchoverHealth")
    last = record.last_health
    assert last is not None
    assert (last.checked_at, last.switchover_id, last.to_region, last.verdict) == (
        NOW,
        "sw",
        "region-b",
        "healthy",
    )
    assert last.summary == record.message
    assert last.checks == [
        HealthCheckSummary(name="a", status="pass", detail="x" * CHECK_DETAIL_MAX),
        HealthCheckSummary(name="b", status="pass"),
    ]


def test_a_run_that_errored_sets_the_condition_and_keeps_last_health() -> None:
    assert crashed("pair read failed: 503\n  traceback line") == HealthRecord(
        status="Unknown",
        reason="HealthCheckErrored",
        message="PostSwitchoverHealth errored: pair read failed: 503",
    )


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("", "PostSwitchoverHealth errored: unknown error"),
        ("\n  \n", "PostSwitchoverHealth errored: unknown error"),
        ("  first  \nsecond", "PostSwitchoverHealth errored: first"),
    ],
)
def test_the_error_message_is_its_first_line(error: str, message: str) -> None:
    assert summarize_error(error) == ("Unknown", "HealthCheckErrored", message)


@given(st.text())
def test_an_error_message_is_always_bounded(error: str) -> None:
    status, reason, message = summarize_error(error)
    assert (status, reason) == ("Unknown", "HealthCheckErrored")
    assert message.startswith("PostSwitchoverHealth errored: ")
    assert len(message) <= HEALTH_ERROR_MESSAGE_MAX
