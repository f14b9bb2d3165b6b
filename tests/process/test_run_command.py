"""`continuum run` as a real process against an emulated region served over HTTP (itself a
real `continuum sim kube` process): starts, reports ready, stops cleanly on a signal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def _lines_until(proc: subprocess.Popen[str], event: str, deadline_s: float = 30.0) -> list[dict]:
    assert proc.stdout is not None
    seen: list[dict] = []
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        try:
            record = json.loads(line)
        except ValueError:
            continue
        seen.append(record)
        if record.get("event") == event:
            return seen
    raise AssertionError(f"{event!r} never logged; saw {seen}")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    kubeconfig = tmp_path_factory.mktemp("kube") / "kubeconfig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "continuum",
            "sim",
            "kube",
            "--port",
            "0",  # the emulator binds a free port and writes it into the kubeconfig
            "--kubeconfig",
            str(kubeconfig),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    end = time.monotonic() + 30
    while time.monotonic() < end and "kubeconfig:" not in (proc.stdout.readline() or "kubeconfig:"):
        pass
    assert kubeconfig.exists(), "the emulator did not start"
    yield kubeconfig
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def controller(emulator: Path) -> Iterator[subprocess.Popen[str]]:
    env = {
        **os.environ,
        "CONTINUUM_REGION": "region-a",
        "CONTINUUM_KUBECONFIG": str(emulator),
        "CONTINUUM_API_ADDR": "",
        "CONTINUUM_METRICS_ADDR": "",
        "CONTINUUM_LEADER_ELECTION": "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "continuum", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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
    assert lines[0]["event"] == "controller_starting"
    assert lines[0]["region"] == "region-a"
    controller.send_signal(signum)
    assert controller.wait(timeout=15) == 0
    rest = _lines_until(controller, "shutdown_complete")
    assert rest[0]["event"] == "shutdown_requested"
    assert rest[0]["signal"] == signum.name


def test_log_lines_are_json_with_utc_iso_timestamps(controller: subprocess.Popen[str]) -> None:
    lines = _lines_until(controller, "controller_ready")
    for line in lines:
        assert line["timestamp"].endswith("Z")
        assert line["level"] in ("debug", "info", "warning", "error")
    controller.send_signal(signal.SIGTERM)
    assert controller.wait(timeout=15) == 0


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


def test_unreachable_kubernetes_api_is_retried_with_warnings_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters:\n- name: c\n  cluster: {server: 'http://127.0.0.1:1'}\n"
        "users:\n- name: u\n  user: {token: t}\n"
        "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "continuum", "run"],
        env={
            **os.environ,
            "CONTINUUM_REGION": "a",
            "CONTINUUM_KUBECONFIG": str(kubeconfig),
            "CONTINUUM_API_ADDR": "",
            "CONTINUUM_METRICS_ADDR": "",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = _lines_until(proc, "leader_api_error")
        assert lines[-1]["level"] == "warning"
        assert "127.0.0.1" in json.dumps(lines[-1])
        assert not any(line.get("event") == "controller_ready" for line in lines)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_version_prints_the_package_version() -> None:
    from continuum import __version__

    proc = subprocess.run(
        [sys.executable, "-m", "continuum", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"continuum {__version__}"


def test_port_zero_binds_free_ports_and_the_log_says_which(emulator: Path) -> None:
    """Nobody picks ports in advance: with port 0 the process binds free ones and reports them
    in ``controller_listening`` before anything else starts; both answer there."""
    env = {
        **os.environ,
        "CONTINUUM_REGION": "region-a",
        "CONTINUUM_KUBECONFIG": str(emulator),
        "CONTINUUM_API_ADDR": "127.0.0.1:0",
        "CONTINUUM_METRICS_ADDR": "127.0.0.1:0",
        "CONTINUUM_LEADER_ELECTION": "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "continuum", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = _lines_until(proc, "controller_ready")
        (listening,) = [line for line in lines if line["event"] == "controller_listening"]
        api, metrics = listening["api"], listening["metrics"]
        assert api.startswith("127.0.0.1:")
        assert not api.endswith(":0")
        assert metrics.startswith("127.0.0.1:")
        assert not metrics.endswith(":0")
        assert httpx.get(f"http://{api}/healthz", timeout=10).status_code == 200
        assert "continuum_" in httpx.get(f"http://{metrics}/metrics", timeout=10).text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
