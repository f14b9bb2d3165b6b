"""Plain-text rendering of the API's answers for people: tables and progress lines.

Pure functions from the ``continuum.messages`` shapes to strings (no colour, no terminal
control, no I/O), so what the CLI prints is testable byte for byte. ``--json`` bypasses all
of this and prints the server's own bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from continuum.cli.client import StepSeen
from continuum.messages.requests import ContinuumSummary, RefusalDetail
from continuum.messages.status import LastSwitchover
from continuum.messages.switchover import DryRunReport, HealthReport

TOTAL_STEPS = 7


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces; the last column is not padded."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(headers), *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _bullets(title: str, items: Sequence[str]) -> list[str]:
    if not items:
        return [f"{title}: none"]
    return [f"{title} ({len(items)}):", *(f"  - {item}" for item in items)]


def duration(seconds: float) -> str:
    """A duration for people: ``3 µs``, ``2.6 ms``, ``250 ms``, ``1.2 s``, ``21.5 s``,
    ``2 min 5 s``, ``1 h 3 min``.

    Microseconds are whole; below 100 of a unit one decimal is kept (dropped when it is 0);
    from one minute on, whole minutes and seconds (or hours and minutes). ``0 s`` for zero,
    ``< 1 µs`` for less, a leading ``-`` for a negative value, ``-`` for NaN or infinity.
    Never raises.
    """
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return "-"
    if seconds < 0:
        return "-" + duration(-seconds)
    if seconds == 0:
        return "0 s"
    if seconds < 0.5e-6:
        return "< 1 µs"
    if round(seconds * 1e6) < 1000:
        return f"{round(seconds * 1e6)} µs"
    if _rounded(seconds * 1e3) < 1000:
        return f"{_number(seconds * 1e3)} ms"
    if _rounded(seconds) < 60:
        return f"{_number(seconds)} s"
    whole = round(seconds)
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(round(seconds / 60), 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def _rounded(value: float) -> float:
    return round(value, 1) if value < 100 else float(round(value))


def _number(value: float) -> str:
    shown = _rounded(value)
    return f"{shown:.1f}".removesuffix(".0") if value < 100 else f"{shown:.0f}"


def _when(value: datetime | str | None) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def render_dry_run(report: DryRunReport, *, target: str, to_region: str) -> str:
    """The DryRun: header, the seven-step table (n, name, met, estimate, notes), totals,
    warnings, blockers and a verdict line."""
    lines = [
        f"DryRun {target} → {to_region}",
        f"fingerprint {report.planFingerprint}   generated {report.generatedAt}",
    ]
    if report.leaseHolder:
        lines.append(
            f"lease held by {report.leaseHolder}, generation {report.leaseGeneration}, "
            f"expires {_when(report.leaseExpiresAt)}"
        )
    rows = [
        [
            str(step.step),
            step.name,
            "yes" if step.preconditionsMet else "NO",
            duration(step.estimatedDurationSeconds),
            "; ".join(step.notes),
        ]
        for step in report.steps
    ]
    lines += ["", table(["#", "STEP", "MET", "EST.", "NOTES"], rows), ""]
    lines.append(
        f"estimated duration {duration(report.estimatedDurationSeconds)}, "
        f"write disruption {duration(report.estimatedWriteDisruptionSeconds)}"
    )
    lines += _bullets("warnings", report.warnings)
    lines += _bullets("blockers", report.blockers)
    if report.blockers:
        lines.append(f"BLOCKED: {len(report.blockers)} blocker(s); a switchover would be refused")
    else:
        lines.append("no blockers: the switchover can be confirmed with this fingerprint")
    return "\n".join(lines)


def render_health(report: HealthReport, *, target: str) -> str:
    """The HealthReport: verdict line, then the four checks (name, status, detail), with the
    DNS probes that did not pass indented under their check."""
    lines = [
        f"health {target}: {report.verdict.upper()}   new primary "
        f"{report.newPrimaryRegion or '-'}   generated {report.generatedAt}",
        "",
    ]
    rows: list[list[str]] = []
    for check in report.checks:
        status = check.status + (" (deferred)" if check.deferred else "")
        took = duration(check.durationSeconds) if check.durationSeconds else "-"  # not kept
        rows.append([check.name, status, took, check.detail])
        for probe in check.probes:
            if probe.status != "pass":
                what = probe.error or ", ".join(probe.addresses) or "-"
                rows.append(["", "", "", f"  {probe.hostname} @ {probe.vantage}: {probe.status}"])
                rows[-1][3] += f" ({what})"
    lines.append(table(["CHECK", "STATUS", "TOOK", "DETAIL"], rows))
    return "\n".join(lines)


def _progress_cell(summary: ContinuumSummary) -> str:
    journal = summary.switchover
    if journal is not None and journal.state != "done":
        return f"{journal.step_index}/{TOTAL_STEPS} {journal.step}" + (
            " (compensating)" if journal.state == "compensating" else ""
        )
    last = summary.lastSwitchover
    return last.result if last is not None else "-"


def render_summaries(summaries: Sequence[ContinuumSummary]) -> str:
    """``continuum status``: one row per Continuum."""
    if not summaries:
        return "no Continuums on this replica"
    rows = [
        [
            f"{s.namespace}/{s.name}",
            s.phase or "-",
            s.actingPrimary or "-",
            s.leaseHolder or "-",
            str(s.leaseGeneration),
            s.region or "-",
            _progress_cell(s),
            s.lastHealth.verdict if s.lastHealth is not None else "-",
        ]
        for s in summaries
    ]
    headers = ["CONTINUUM", "PHASE", "PRIMARY", "LEASE", "GEN", "REGION", "SWITCHOVER", "HEALTH"]
    return table(headers, rows)


def render_summary(summary: ContinuumSummary) -> str:
    """``continuum status NS/NAME``: the summary as ``key: value`` lines, then conditions."""
    pairs = [
        ("continuum", f"{summary.namespace}/{summary.name}"),
        ("phase", summary.phase or "-"),
        ("application", summary.applicationRef or "-"),
        ("primary region (spec)", summary.primaryRegion or "-"),
        ("acting primary", summary.actingPrimary or "-"),
        ("hot standby", ", ".join(summary.hotStandbyRegions) or "-"),
        (
            "lease",
            f"{summary.leaseHolder or '-'} gen {summary.leaseGeneration}"
            f" expires {_when(summary.leaseExpiresAt)}",
        ),
        ("this replica", f"{summary.region or '-'}" + (" (acting)" if summary.acting else "")),
        ("switchover", _progress_cell(summary)),
    ]
    if summary.lastSwitchover is not None:
        pairs.append(("last switchover", render_result(summary.lastSwitchover)))
    if summary.lastHealth is not None:
        health = summary.lastHealth
        pairs.append(
            ("last health", f"{health.verdict} at {_when(health.checked_at)} {health.summary}")
        )
    if summary.specError:
        pairs.append(("spec error", summary.specError))
    width = max(len(k) for k, _ in pairs)
    lines = [f"{k.ljust(width)}  {v}".rstrip() for k, v in pairs]
    if summary.conditions:
        rows = [[c.type, c.status, c.reason, c.message] for c in summary.conditions]
        lines += ["", table(["CONDITION", "STATUS", "REASON", "MESSAGE"], rows)]
    return "\n".join(lines)


def render_step(seen: StepSeen) -> str:
    """One progress line: ``[3/7] drain-http`` or ``[3/7] drain-http: compensating``."""
    line = f"[{seen.index}/{TOTAL_STEPS}] {seen.step}"
    return line + ": compensating" if seen.state == "compensating" else line


def render_result(last: LastSwitchover) -> str:
    """One line: result, regions, duration, and for a failure the step, error and what was
    compensated (or failed to be)."""
    line = f"{last.id} {last.result}: {last.from_} → {last.to} in {duration(last.duration_seconds)}"
    if last.failed_at_step is not None:
        line += f"; failed at {last.failed_at_step}"
    if last.error:
        line += f": {last.error}"
    if last.compensated_steps:
        line += f"; compensated {', '.join(last.compensated_steps)}"
    if last.failed_compensations:
        line += f"; compensation FAILED for {', '.join(last.failed_compensations)}"
    return line


def render_refusal(error: str, refusal: RefusalDetail | None) -> str:
    """Why a switchover was refused (409): the server's reason and message."""
    if refusal is None:
        return f"refused: {error}"
    return f"refused ({refusal.reason}): {refusal.message}"
