"""`continuum demo --scenario ...` as a real process, under a time bound, asserting what it
prints (the user-visible outcome) and that it leaves no process behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psutil

from continuum.sim.nats import free_port


def _demo(tmp_path: Path, scenario: str, timeout: float) -> subprocess.CompletedProcess[str]:
    port = free_port()
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "continuum",
            "demo",
            "--scenario",
            scenario,
            "--api-port",
            str(port),
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "CONTINUUM_REGION": ""},
    )


def _children_of_nobody_left(workdir: Path) -> list[str]:
    leftovers = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        if str(workdir) in cmd:
            leftovers.append(cmd)
    return leftovers


def test_switchover_scenario_prints_dry_run_result_and_healthy_report(tmp_path: Path) -> None:
    done = _demo(tmp_path, "switchover", timeout=120)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "DryRun  fingerprint=" in out
    for step in (
        "validate-lease",
        "cordon-old-primary",
        "drain-http",
        "flip-dns",
        "swap-lease",
        "promote-new-primary",
        "audit-emit",
    ):
        assert step in out
    assert "Result: Succeeded" in out
    assert "Health  verdict=healthy  new primary=region-b" in out
    assert re.search(
        r"Writes: acknowledged \d+ \(region-a \d+, region-b \d+\), lost 0, "
        r"split-brain 0",
        out,
    ), out
    assert re.search(r"write pause \d+ ms", out), out
    assert _children_of_nobody_left(tmp_path) == []


def test_failover_scenario_shows_region_b_taking_over(tmp_path: Path) -> None:
    done = _demo(tmp_path, "failover", timeout=150)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "region-a goes dark" in out
    assert "region-b is now the writer" in out
    assert re.search(r"Writes: acknowledged \d+ .*split-brain 0", out), out
    assert _children_of_nobody_left(tmp_path) == []
