"""Rendering details the API-driven tests do not reach: DNS probes under their check,
deferred checks, a switchover in progress in the status table, failed compensations."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from continuum.cli.render import duration, render_health, render_result, render_summaries, table
from continuum.messages.requests import ContinuumSummary
from continuum.messages.status import LastSwitchover, SwitchoverJournal
from continuum.messages.switchover import HealthCheck, HealthReport, ProbeResult

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_table_pads_every_column_but_the_last() -> None:
    assert table(["A", "BB", "C"], [["xxx", "y", "z z"]]) == "A    BB  C\nxxx  y   z z"


def test_failed_dns_probes_are_listed_under_their_check_and_deferred_checks_marked() -> None:
    report = HealthReport(
        newPrimaryRegion="eu-central",
        checks=[
            HealthCheck(name="replicas-healthy", status="pass", passed=True),
            HealthCheck(
                name="dns-probes",
                status="fail",
                passed=False,
                detail="1 of 2 probes failed",
                probes=[
                    ProbeResult(hostname="app.example", vantage="8.8.8.8", status="pass"),
                    ProbeResult(
                        hostname="app.example",
                        vantage="1.1.1.1",
                        status="fail",
                        addresses=["192.0.2.1"],
                    ),
                ],
            ),
            HealthCheck(name="latency-normal", status="unknown", passed=False, deferred=True),
        ],
        verdict="unhealthy",
        generatedAt="2026-01-01T00:00:00Z",
        overallHealthy=False,
    )
    lines = render_health(report, target="team-a/orders").splitlines()
    assert lines[0].startswith("health team-a/orders: UNHEALTHY")
    assert lines[4].split()[:2] == ["dns-probes", "fail"]
    assert lines[5].strip() == "app.example @ 1.1.1.1: fail (192.0.2.1)"
    assert "8.8.8.8" not in "\n".join(lines)
    assert "unknown (deferred)" in lines[6]


def test_status_table_shows_the_step_of_a_running_switchover() -> None:
    journal = SwitchoverJournal(
        id="so-1",
        step="swap-lease",
        step_index=5,
        from_="eu-west",
        to="eu-central",
        epoch=3,
        started_at=T0,
        state="compensating",
    )
    summary = ContinuumSummary(
        namespace="ns", name="app", region="eu-west", acting=True, switchover=journal
    )
    row = render_summaries([summary]).splitlines()[1]
    assert "5/7 swap-lease (compensating)" in row


def test_result_line_names_failed_compensations() -> None:
    last = LastSwitchover(
        id="so-2",
        from_="eu-west",
        to="eu-central",
        result="Failed",
        failed_at_step="promote-new-primary",
        compensated_steps=["flip-dns"],
        failed_compensations=["drain-http"],
        started_at=T0,
        finished_at=T0,
        duration_seconds=3.0,
        error="promotion timed out",
    )
    assert render_result(last) == (
        "so-2 Failed: eu-west → eu-central in 3 s; failed at promote-new-primary: "
        "promotion timed out; compensated flip-dns; compensation FAILED for drain-http"
    )


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0 s"),
        (2e-7, "< 1 µs"),
        (2.801e-06, "3 µs"),
        (0.000999, "999 µs"),
        (0.0009996, "1 ms"),
        (0.00257994, "2.6 ms"),
        (0.002, "2 ms"),
        (0.25, "250 ms"),
        (0.99996, "1 s"),
        (1.2, "1.2 s"),
        (21.5, "21.5 s"),
        (59.99, "1 min"),
        (125, "2 min 5 s"),
        (3780, "1 h 3 min"),
        (7200, "2 h"),
        (-0.0026, "-2.6 ms"),
        (float("nan"), "-"),
        (float("inf"), "-"),
    ],
)
def test_durations_are_shown_for_people(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


def test_health_table_shows_each_checks_time_for_people() -> None:
    report = HealthReport(
        verdict="healthy",
        generatedAt="2026-01-01T00:00:00Z",
        overallHealthy=True,
        newPrimaryRegion="eu-central",
        checks=[
            HealthCheck(
                name="replicas-healthy", status="pass", passed=True, durationSeconds=2.801e-06
            ),
            HealthCheck(name="dns-probes", status="pass", passed=True, durationSeconds=0.00257994),
        ],
    )
    rendered = render_health(report, target="team-a/orders")
    assert "replicas-healthy  pass    3 µs" in rendered
    assert "dns-probes        pass    2.6 ms" in rendered
    assert "e-0" not in rendered
