"""The CLI against a running demo (a real `continuum demo` process), using the very commands
the demo prints, then Ctrl-C stops everything and leaves no process behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.demo.demo_process import (
    api_ports,
    processes_mentioning,
    read_until,
    read_until_running,
    start_demo,
)


class Demo:
    def __init__(self, proc: subprocess.Popen[str], printed: list[str], workdir: Path) -> None:
        self.proc = proc
        self.printed = printed
        self.workdir = workdir

    def commands(self) -> list[list[str]]:
        """The `continuum ...` lines the demo printed, as argv lists."""
        return [
            line.strip().split()[1:]
            for line in self.printed
            if line.strip().startswith("continuum ")
        ]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    workdir = tmp_path_factory.mktemp("demo")
    proc = start_demo("--workdir", str(workdir))
    printed = read_until_running(proc)
    assert any("Continuum demo is running" in line for line in printed), "".join(printed)
    yield Demo(proc, printed, workdir)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "continuum", *argv], capture_output=True, text=True, timeout=120
    )


def _health(port: int) -> dict[str, Any]:
    answer = httpx.get(
        f"http://127.0.0.1:{port}/v1/continuums/shop/shop-dr/health",
        headers={"X-Catalyst-Owner-Tier": "true", "Authorization": "Bearer demo-token"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_try_is_printed_once_both_instances_answer_healthy(demo: Demo) -> None:
    """The demo warms up (PowerDNS health-checks its ifurlup targets) before "Try:"."""
    text = "".join(demo.printed)
    assert text.index("Warming up") < text.index("Try:")
    # The warm-up saw both instances answer healthy (it says so when it gave up waiting).
    # Their answers now are not asserted: under load PowerDNS's 1 s ifurlup checks may mark
    # the writer down for a moment, and the health check then rightly says so.
    assert "still warming up" not in text
    for port in api_ports(demo.printed):
        assert _health(port)["verdict"] in ("healthy", "unhealthy", "unknown")


def test_printed_status_and_dry_run_commands_work_when_pasted(demo: Demo) -> None:
    by_name = {argv[0]: argv for argv in demo.commands()}
    status = _cli(*by_name["status"])
    assert status.returncode == 0, status.stdout + status.stderr
    assert "shop/shop-dr" in status.stdout
    dry = _cli(*by_name["dry-run"], "--json")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    report = json.loads(dry.stdout)
    assert len(report["steps"]) == 7
    assert report.get("blockers", []) == []


def test_printed_switchover_command_runs_to_a_healthy_end(demo: Demo) -> None:
    by_name = {argv[0]: argv for argv in demo.commands()}
    done = _cli(*by_name["switchover"], "--yes", "--health-wait", "90")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "promote-new-primary" in done.stdout
    health = _cli(*by_name["health"])
    assert health.returncode == 0, health.stdout + health.stderr
    assert "healthy" in health.stdout
    # The demo's own client wrote throughout; the demo says what happened to its writes.
    moved = read_until(demo.proc, "Writer moved region-a -> region-b")[-1]
    assert "lost 0, split-brain 0" in moved, moved


def test_after_a_switchover_both_instances_answer_health_the_same(demo: Demo) -> None:
    """The old region's instance ran the post-switchover check; the new region's must give
    the same report (it reads it from the CR status, not from its own memory)."""
    a, b = (_health(port) for port in api_ports(demo.printed))
    assert a["newPrimaryRegion"] == "region-b"
    assert a == b


def test_ctrl_c_stops_the_demo_cleanly_and_leaves_no_process(demo: Demo) -> None:
    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(timeout=60) == 0
    assert processes_mentioning(demo.workdir) == []
