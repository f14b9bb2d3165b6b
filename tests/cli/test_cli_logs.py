"""``continuum logs`` on recorded log lines: filters, levels, exceptions, pass-through of
non-JSON lines, and garbage that must never stop the stream."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

import pytest
import structlog

from continuum.cli.exits import EXIT_OK, EXIT_USAGE
from continuum.cli.logview import LogFilter, format_record, parse_since, run
from continuum.logs import bind_context, configure_logging, get_logger
from tests.cli.conftest import run_cli

pytestmark = pytest.mark.anyio

RECORDED = "\n".join(
    [
        '{"logger": "continuum.actor", "event": "lease_renewed", "generation": 7, '
        '"continuum": "team-a/orders", "region": "eu-west", "level": "debug", '
        '"timestamp": "2026-01-01T00:00:01.123456Z"}',
        '{"logger": "continuum.switchover", "event": "step_finished", "step": "drain-http", '
        '"epoch": 7, "duration_s": 10.02, "continuum": "team-a/orders", "level": "info", '
        '"timestamp": "2026-01-01T00:00:12.5Z"}',
        '{"logger": "continuum.switchover", "event": "step_failed", "step": "flip-dns", '
        '"error": "pdns said no", "continuum": "team-b/billing", "level": "error", '
        '"timestamp": "2026-01-01T00:00:13Z"}',
        "time=2026-01-01 this is not json",
        '{"logger": "continuum.http.access", "event": "api_request", "method": "GET", '
        '"level": "warning", "timestamp": "2026-01-01T00:00:14Z"}',
    ]
)


async def _logs(*args: str, stdin: str) -> tuple[int, list[str]]:
    run = await run_cli(["logs", *args], stdin=stdin, env={})
    return run.code, run.out.splitlines()


async def test_each_record_becomes_one_line_with_time_level_event_continuum_step_and_rest() -> None:
    code, lines = await _logs(stdin=RECORDED)
    assert code == EXIT_OK
    assert len(lines) == 5
    assert lines[1].split() == [
        "2026-01-01T00:00:12.500Z",
        "INFO",
        "step_finished",
        "continuum=team-a/orders",
        "step=drain-http",
        "epoch=7",
        "duration_s=10.02",
        "logger=continuum.switchover",
    ]
    assert lines[0].startswith("2026-01-01T00:00:01.123Z DEBUG    lease_renewed ")


async def test_filter_by_continuum_keeps_only_that_crs_records_and_non_json_lines() -> None:
    _code, lines = await _logs("--continuum", "team-a/orders", stdin=RECORDED)
    assert [line.split()[2] for line in lines if line.startswith("2026-01-01T")] == [
        "lease_renewed",
        "step_finished",
    ]
    assert "time=2026-01-01 this is not json" in lines


async def test_minimum_level_drops_records_below_it() -> None:
    _code, lines = await _logs("--level", "warning", stdin=RECORDED)
    assert [line.split()[1] for line in lines if line.startswith("2026-01-01T")] == [
        "ERROR",
        "WARNING",
    ]


async def test_filters_combine() -> None:
    _code, lines = await _logs("--continuum", "team-b/billing", "--level", "error", stdin=RECORDED)
    assert len(lines) == 2
    assert "step_failed" in lines[0]
    assert 'error="pdns said no"' in lines[0]


async def test_non_json_lines_pass_through_unchanged() -> None:
    text = 'plain line\n  indented: yes\n[1, 2, 3]\n"just a string"\n42\n\n'
    _code, lines = await _logs("--level", "error", stdin=text)
    assert lines == ["plain line", "  indented: yes", "[1, 2, 3]", '"just a string"', "42", ""]


async def test_garbage_never_stops_the_stream() -> None:
    garbage = [
        "{",
        '{"event": ',
        '{"level": 5, "event": ["x"], "timestamp": 12}',
        '{"level": null, "exception": {"odd": true}}',
        '{"exception": [1, {"exc_type": "E", "frames": "nope", "exceptions": [2]}]}',
        "\x00\x01\x02",
        '{"continuum": {"nested": 1}, "event": "weird"}',
        '{"event": "after the garbage", "level": "info"}',
    ]
    code, lines = await _logs(stdin="\n".join(garbage) + "\n")
    assert code == EXIT_OK
    assert lines[:2] == ["{", '{"event": ']
    assert "\x00\x01\x02" in lines
    assert lines[-1].split()[1:2] == ["INFO"]
    assert "after the garbage" in lines[-1]


async def test_since_drops_records_older_than_the_given_time() -> None:
    _code, lines = await _logs("--since", "2026-01-01T00:00:13Z", stdin=RECORDED)
    events = [line.split()[2] for line in lines if line.startswith("2026-01-01T")]
    assert events == ["step_failed", "api_request"]


async def test_bad_since_is_a_usage_error() -> None:
    run = await run_cli(["logs", "--since", "yesterday-ish"], stdin="", env={})
    assert run.code == EXIT_USAGE
    assert "--since" in run.err


def test_since_accepts_durations_relative_to_now() -> None:
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert parse_since("90s", now=now) == datetime(2026, 1, 1, 11, 58, 30, tzinfo=UTC)
    assert parse_since("2h", now=now) == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert parse_since("2026-01-01T11:00:00", now=now) == datetime(2026, 1, 1, 11, tzinfo=UTC)


async def test_json_flag_prints_matching_lines_unchanged() -> None:
    _code, lines = await _logs("--json", "--continuum", "team-a/orders", stdin=RECORDED)
    recorded = RECORDED.splitlines()
    assert lines == [recorded[0], recorded[1], recorded[3]]


def test_exceptions_from_the_real_logger_are_indented_under_their_record() -> None:
    stream = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=stream)
    try:
        with bind_context(continuum="team-a/orders", step="flip-dns"):
            try:
                try:
                    raise ZeroDivisionError("division by zero")
                except ZeroDivisionError as err:
                    raise ValueError("pdns refused the zone") from err
            except ValueError:
                get_logger("continuum.test").exception("step_failed")
    finally:
        structlog.reset_defaults()
        for handler in list(logging.getLogger().handlers):
            logging.getLogger().removeHandler(handler)
    record = json.loads(stream.getvalue())
    lines = format_record(record).splitlines()
    assert lines[0].split()[1:5] == [
        "ERROR",
        "step_failed",
        "continuum=team-a/orders",
        "step=flip-dns",
    ]
    assert lines[1] == "    ValueError: pdns refused the zone"
    assert lines[2].startswith("      at ")
    assert lines[2].endswith(
        " in test_exceptions_from_the_real_logger_are_indented_under_their_record"
    )
    assert "    caused by:" in lines
    assert "    ZeroDivisionError: division by zero" in lines
    assert all(line.startswith("    ") for line in lines[1:])


def test_a_string_traceback_is_indented_line_by_line() -> None:
    record = {"event": "boom", "level": "error", "exception": "Traceback:\n  x\nKeyError: 1\n"}
    assert format_record(record).splitlines()[1:] == [
        "    Traceback:",
        "      x",
        "    KeyError: 1",
    ]


class _CountingFlushes(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_every_printed_line_is_flushed_at_once() -> None:
    out = _CountingFlushes()
    written = run(iter(RECORDED.splitlines(keepends=True)), out, LogFilter())
    assert written == 5
    assert out.flushes == 5


def test_a_closed_output_ends_quietly() -> None:
    class Closed(io.StringIO):
        def write(self, _text: str) -> int:
            raise BrokenPipeError

    assert run(iter(["a\n", "b\n"]), Closed(), LogFilter()) == 0
