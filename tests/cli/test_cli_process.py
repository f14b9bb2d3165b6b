"""The ``continuum`` console entry point as a real process: an API command against the real
API, ``logs`` streaming line by line (as behind ``kubectl logs -f``), and ``sim kube``."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from continuum.cli.exits import EXIT_BLOCKED
from tests.cli.cli_fake_continuum import FINGERPRINT, STANDBY
from tests.cli.conftest import CR, TOKEN, ApiServer

READ_DEADLINE_S = 15.0


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "continuum", *args]


def _readline(proc: subprocess.Popen[bytes]) -> bytes:
    """One line of the process's stdout, waiting at most READ_DEADLINE_S for it (the pipe
    must be unbuffered, ``bufsize=0``, or a line already buffered is invisible to select)."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], READ_DEADLINE_S)
    assert ready, "no output in time"
    return proc.stdout.readline()


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; any still running at the end is killed by PID."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.anyio
async def test_dry_run_as_a_process_prints_json_and_exits_with_the_blocker_code(
    api: ApiServer,
) -> None:
    api.scenario.blockers = ["standby not ready"]
    env = {**os.environ, "CONTINUUM_API_URL": api.url, "CONTINUUM_API_TOKEN": TOKEN}
    with anyio.fail_after(30):
        done = await anyio.run_process(
            _command("dry-run", CR, "--to", STANDBY, "--json"), env=env, check=False
        )
    assert done.returncode == EXIT_BLOCKED, done.stderr
    report = json.loads(done.stdout)
    assert report["planFingerprint"] == FINGERPRINT
    assert report["blockers"] == ["standby not ready"]


def test_logs_process_prints_each_record_before_the_next_one_arrives(
    spawned: list[subprocess.Popen[bytes]],
) -> None:
    proc = subprocess.Popen(
        _command("logs", "--continuum", "team-a/orders"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # unbuffered: select() must see every line not yet read
    )
    spawned.append(proc)
    assert proc.stdin is not None
    first = {"event": "lease_renewed", "level": "info", "continuum": "team-a/orders"}
    proc.stdin.write(json.dumps(first).encode() + b"\n")
    proc.stdin.flush()
    assert b"lease_renewed" in _readline(proc)
    proc.stdin.write(b"not json \xff\xfe\n")
    proc.stdin.flush()
    assert _readline(proc).startswith(b"not json ")
    proc.stdin.close()
    assert proc.wait(timeout=READ_DEADLINE_S) == 0


def test_sim_kube_serves_the_emulator_and_stops_cleanly_on_sigterm(
    spawned: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        _command(
            "sim", "kube", "--port", "0", "--kubeconfig", str(kubeconfig), "--token", "sim-tok"
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # unbuffered: select() must see every line not yet read
    )
    spawned.append(proc)
    line = _readline(proc).decode()
    assert line.startswith("Kubernetes API emulator listening on http://127.0.0.1:")
    url = line.rsplit(" ", 1)[1].strip()
    assert _readline(proc).decode().strip() == f"kubeconfig: {kubeconfig}"
    assert "sim-tok" in kubeconfig.read_text()
    deadline = time.monotonic() + READ_DEADLINE_S
    while True:
        try:
            denied = httpx.get(f"{url}/api/v1/namespaces", timeout=2)
            allowed = httpx.get(
                f"{url}/api/v1/namespaces", headers={"Authorization": "Bearer sim-tok"}, timeout=2
            )
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "emulator never answered"
    assert denied.status_code == 401
    assert allowed.status_code == 200
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=READ_DEADLINE_S) == 0
