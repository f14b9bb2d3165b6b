"""`continuum demo --scenario ...` as a real process, under a time bound, asserting what it
prints (the user-visible outcome) and that it leaves no process and no temp dir behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.demo.demo_process import processes_mentioning


def _demo(tmp_path: Path, scenario: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """The scenario in its own temp dir (no --workdir), under ``tmp_path`` as TMPDIR; every
    port picked by the kernel (--api-port 0)."""
    return subprocess.run(
        [sys.executable, "-m", "continuum", "demo", "--scenario", scenario, "--api-port", "0"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "CONTINUUM_REGION": "", "TMPDIR": str(tmp_path)},
    )


def _children_of_nobody_left(tmp_path: Path) -> list[str]:
    """Processes still naming the demo's files, and the demo's temp dir if it is still there
    (a normal exit removes it)."""
    return processes_mentioning(tmp_path) + [str(p) for p in tmp_path.glob("continuum-demo-*")]


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
    # writes acknowledged, lost (a failover may lose what the lag held), the write pause
    assert re.search(
        r"Writes: acknowledged \d+ \(region-a \d+, region-b \d+\), lost \d+, split-brain 0",
        out,
    ), out
    assert re.search(r"write pause \d+ ms", out), out
    assert _children_of_nobody_left(tmp_path) == []
