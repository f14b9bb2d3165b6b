"""The CLI against a running demo (a real `continuum demo` process), using the very commands
the demo prints, then Ctrl-C stops everything and leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from continuum_sim.nats import free_port


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
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "continuum",
            "demo",
            "--api-port",
            str(port),
            "--workdir",
            str(workdir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CONTINUUM_REGION": ""},
    )
    assert proc.stdout is not None
    printed: list[str] = []
    end = time.monotonic() + 90
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        printed.append(line)
        if "Ctrl-C stops" in line:
            break
    assert any("Continuum demo is running" in line for line in printed), "".join(printed)
    yield Demo(proc, printed, workdir)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "continuum", *argv], capture_output=True, text=True, timeout=120
    )


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


def test_ctrl_c_stops_the_demo_cleanly_and_leaves_no_process(demo: Demo) -> None:
    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(timeout=60) == 0
    leftovers = [
        " ".join(p.info.get("cmdline") or [])
        for p in psutil.process_iter(["cmdline"])
        if str(demo.workdir) in " ".join(p.info.get("cmdline") or [])
    ]
    assert leftovers == []
