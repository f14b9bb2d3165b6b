"""`continuum run` as a real process: starts, reports ready, stops cleanly on a signal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "continuum", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _lines_until(proc: subprocess.Popen[str], event: str, deadline_s: float = 20.0) -> list[dict]:
    assert proc.stdout is not None
    seen: list[dict] = []
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        record = json.loads(line)
        seen.append(record)
        if record.get("event") == event:
            return seen
    raise AssertionError(f"{event!r} never logged; saw {seen}")


@pytest.fixture
def controller() -> Iterator[subprocess.Popen[str]]:
    proc = _start(
        {"CONTINUUM_REGION": "region-a", "CONTINUUM_API_ADDR": "", "CONTINUUM_METRICS_ADDR": ""},
        "run",
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_stops_cleanly_with_exit_zero_on_stop_signal(
    controller: subprocess.Popen[str], signum: signal.Signals
) -> None:
    lines = _lines_until(controller, "controller_ready")
    assert all(line["level"] == "info" for line in lines)
    assert lines[0]["event"] == "controller_starting"
    assert lines[0]["region"] == "region-a"
    controller.send_signal(signum)
    assert controller.wait(timeout=10) == 0
    rest = _lines_until(controller, "shutdown_complete")
    assert rest[0]["event"] == "shutdown_requested"
    assert rest[0]["signal"] == signum.name


def test_log_lines_are_json_with_utc_iso_timestamps(controller: subprocess.Popen[str]) -> None:
    lines = _lines_until(controller, "controller_ready")
    for line in lines:
        assert line["timestamp"].endswith("Z")
        assert line["logger"].startswith("continuum.")
    controller.send_signal(signal.SIGTERM)
    assert controller.wait(timeout=10) == 0


def test_run_without_region_exits_2_naming_the_variable() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CONTINUUM_REGION", "CATALYST_REGION")}
    proc = subprocess.run(
        [sys.executable, "-m", "continuum", "run"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "CONTINUUM_REGION" in proc.stderr


def test_invalid_setting_exits_2_naming_the_variable() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "continuum", "run"],
        env={**os.environ, "CONTINUUM_REGION": "a", "CONTINUUM_HEALTH_DELAY_SECONDS": "soon"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "CONTINUUM_HEALTH_DELAY_SECONDS" in proc.stderr


def test_version_prints_the_package_version() -> None:
    from continuum import __version__

    proc = subprocess.run(
        [sys.executable, "-m", "continuum", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"continuum {__version__}"
