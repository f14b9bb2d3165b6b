"""``continuum logs``: filter and pretty-print the controller's JSON log stream.

Built for ``kubectl logs -f deploy/continuum | continuum logs --continuum team-a/orders``:
one input line in, at most one record out (plus indented exception lines), flushed at once.

Guarantees:

* a line that is not a JSON object (console-format logs, kubectl's own messages, garbage)
  passes through unchanged and is never filtered (invalid UTF-8 in it is replaced by U+FFFD);
* a JSON record is shown when it matches every filter given: ``continuum`` equal to the
  requested ``ns/name``, ``level`` at or above the minimum (a record without a known level
  counts as ``info``), ``timestamp`` not before ``since`` (a record without a parseable
  timestamp is kept);
* nothing in the input makes it raise: a bad record is passed through verbatim.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TextIO

LEVEL_ORDER: Final[dict[str, int]] = {
    "debug": 10,
    "info": 20,
    "warning": 30,
    "error": 40,
    "critical": 50,
}
_LEVEL_ALIASES: Final[dict[str, str]] = {
    "warn": "warning",
    "exception": "error",
    "fatal": "critical",
    "notset": "debug",
    "trace": "debug",
}
#: Keys rendered in fixed positions (or deliberately last), not in the ``key=value`` rest.
_PLACED: Final = frozenset({"timestamp", "level", "event", "continuum", "step", "exception"})
_EVENT_WIDTH: Final = 28
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_SECONDS: Final[dict[str, int]] = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def normalise_level(level: object) -> str:
    """The canonical level name for ``level`` (any case, aliases such as ``warn``), or
    ``info`` for anything unknown."""
    name = str(level).lower()
    name = _LEVEL_ALIASES.get(name, name)
    return name if name in LEVEL_ORDER else "info"


def parse_since(text: str, *, now: datetime) -> datetime:
    """``--since``: a duration before ``now`` (``90s``, ``10m``, ``2h``, ``1d``) or an ISO-8601
    timestamp (naive means UTC). Raises ValueError for anything else."""
    match = _DURATION.match(text.strip())
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    stamp = _parse_time(text.strip())
    if stamp is None:
        raise ValueError(f"--since: expected a duration like 10m or an ISO time, got {text!r}")
    return stamp


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


@dataclass(frozen=True, kw_only=True)
class LogFilter:
    """Which records to show. ``None`` / ``debug`` mean no filtering on that axis."""

    continuum: str | None = None
    min_level: str = "debug"
    since: datetime | None = None

    def accepts(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` (a decoded JSON log line) passes every filter."""
        if self.continuum is not None and record.get("continuum") != self.continuum:
            return False
        level = normalise_level(record.get("level", "info"))
        if LEVEL_ORDER[level] < LEVEL_ORDER[normalise_level(self.min_level)]:
            return False
        if self.since is not None:
            stamp = _parse_time(record.get("timestamp"))
            if stamp is not None and stamp < self.since:
                return False
        return True


def _short_time(value: object) -> str:
    stamp = _parse_time(value)
    if stamp is None:
        return str(value) if value is not None else "-"
    stamp = stamp.astimezone(UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _value(value: object) -> str:
    if isinstance(value, str):
        return value if value and not re.search(r"[\s\"=]", value) else json.dumps(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value)
    try:
        return json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _exception_lines(exc: object) -> list[str]:
    """Indented lines for structlog's structured exception (a list of dicts, outermost
    first, each later one the ``__cause__``/``__context__`` of the previous) or a string
    traceback."""
    if isinstance(exc, str):
        return ["    " + line for line in exc.rstrip("\n").splitlines()]
    if not isinstance(exc, list):
        return ["    " + _value(exc)]
    lines: list[str] = []
    for index, entry in enumerate(exc):
        if not isinstance(entry, Mapping):
            lines.append("    " + _value(entry))
            continue
        if index > 0:
            link = "caused by" if entry.get("is_cause") else "while handling"
            lines.append(f"    {link}:")
        lines.append(f"    {entry.get('exc_type', '?')}: {entry.get('exc_value', '')}")
        frames = entry.get("frames")
        for frame in frames if isinstance(frames, list) else []:
            if isinstance(frame, Mapping):
                lines.append(
                    f"      at {frame.get('filename', '?')}:{frame.get('lineno', '?')}"
                    f" in {frame.get('name', '?')}"
                )
        nested = entry.get("exceptions")
        if isinstance(nested, list) and nested:
            lines.extend("  " + line for line in _exception_lines(nested))
    return lines


def format_record(record: Mapping[str, Any]) -> str:
    """One record as ``TIME LEVEL event continuum=… step=… key=value …`` (``logger`` last),
    followed by indented exception lines when the record carries one."""
    level = normalise_level(record.get("level", "info")).upper()
    event = str(record.get("event", ""))
    parts = [_short_time(record.get("timestamp")), f"{level:<8}", f"{event:<{_EVENT_WIDTH}}"]
    for key in ("continuum", "step"):
        if key in record:
            parts.append(f"{key}={_value(record[key])}")
    rest = [k for k in record if k not in _PLACED and k != "logger"]
    parts.extend(f"{key}={_value(record[key])}" for key in rest)
    if "logger" in record:
        parts.append(f"logger={_value(record['logger'])}")
    line = " ".join(parts).rstrip()
    if record.get("exception") not in (None, "", []):
        line += "\n" + "\n".join(_exception_lines(record["exception"]))
    return line


def render_line(line: str, log_filter: LogFilter, *, raw_json: bool = False) -> str | None:
    """What to print for one input ``line`` (without its newline): the pretty record, the
    raw line (non-JSON, or ``raw_json``), or ``None`` when the record is filtered out."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict):
        return line
    try:
        if not log_filter.accepts(record):
            return None
        return line if raw_json else format_record(record)
    except Exception:  # a record we cannot read must never stop the stream
        return line


def run(
    lines: Iterable[str],
    out: TextIO,
    log_filter: LogFilter,
    *,
    raw_json: bool = False,
) -> int:
    """Filter and print every line of ``lines`` to ``out``, flushing after each; returns the
    number of lines written. Ends at end of input; a closed ``out`` (``| head``) ends it
    quietly."""
    written = 0
    try:
        for raw in lines:
            line = raw.rstrip("\r\n")
            shown = render_line(line, log_filter, raw_json=raw_json)
            if shown is None:
                continue
            out.write(shown + "\n")
            out.flush()
            written += 1
    except BrokenPipeError:
        pass
    return written


def tolerant_stdin() -> TextIO:
    """``sys.stdin`` decoding invalid UTF-8 with replacement characters instead of raising."""
    try:
        return open(  # lives as long as the process
            sys.stdin.fileno(), encoding="utf-8", errors="replace", closefd=False, buffering=1
        )
    except (AttributeError, OSError, ValueError):
        return sys.stdin
