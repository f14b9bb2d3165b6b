"""``continuum demo`` as a real process: however it is stopped, it leaves nothing behind —
no temp directory (it holds the pdns API key) after Ctrl-C or SIGTERM, no server process
even after a SIGKILL (the servers die with their parent)."""

from __future__ import annotations

import signal
from pathlib import Path

import psutil
import pytest

from tests.demo.demo_process import gone, processes_mentioning, read_until_running, start_demo


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_removes_the_demo_temp_dir(tmp_path: Path, signum: signal.Signals) -> None:
    proc = start_demo(tmpdir=tmp_path)
    try:
        read_until_running(proc)
        made = list(tmp_path.glob("continuum-demo-*"))
        assert len(made) == 1
        assert list(made[0].glob("pdns-*/pdns.conf")), "the temp dir holds the pdns config"
        proc.send_signal(signum)
        assert proc.wait(timeout=60) == 0
        assert list(tmp_path.glob("continuum-demo-*")) == []
        assert processes_mentioning(tmp_path) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigkill_of_the_demo_takes_its_servers_with_it(tmp_path: Path) -> None:
    proc = start_demo("--workdir", str(tmp_path))
    try:
        read_until_running(proc)
        children = psutil.Process(proc.pid).children(recursive=True)
        names = {child.name() for child in children}
        assert {"nats-server", "pdns_server"} <= names, names
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        alive = [f"{c.pid} {c.name()}" for c in children if not gone(c.pid, within=10)]
        assert alive == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
