"""A server started through ``ManagedProcess`` dies with the process that started it, whatever
kills that one — SIGKILL included — checked on real processes by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from continuum_sim.process import dies_with_parent

# A parent that starts `sleep` the way the launchers start servers, prints the child's PID,
# then waits to be killed. It takes SIGINT/SIGTERM through anyio's signal receiver, as the
# demo and the controller do: with a plain Python handler the signal may be taken by
# asyncio's child-watcher thread and the main thread only notices at its next wake-up
# (seen: 4-10 s), which timed the test out without saying anything about the server.
PARENT = textwrap.dedent(
    """
    import signal, sys, anyio
    from pathlib import Path
    from continuum_sim.process import ManagedProcess

    async def main():
        proc = ManagedProcess(name="sleep", log_path=Path(sys.argv[1]), error=RuntimeError)
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            await proc.spawn(["sleep", "300"])
            print(proc.pid, flush=True)
            async for signum in signals:
                sys.exit(128 + signum)  # without stopping the child: it must die by itself

    anyio.run(main)
    """
)


def _gone(pid: int, *, within: float) -> bool:
    """Whether ``pid`` has exited (a zombie awaiting its reaper counts as gone)."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _becomes(pid: int, cmdline: list[str], *, within: float) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if psutil.Process(pid).cmdline() == cmdline:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_the_server_dies_when_its_parent_is_killed(tmp_path: Path, signum: signal.Signals) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "sleep.log")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _becomes(child, ["sleep", "300"], within=10)  # the shim exec'd it, same PID
        assert psutil.Process(child).ppid() == parent.pid
        parent.send_signal(signum)
        parent.wait(timeout=10)
        assert _gone(child, within=10), f"sleep {child} outlived its parent ({signum.name})"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_the_shim_refuses_to_start_an_orphan() -> None:
    """Started on behalf of a parent that is already gone, the command never runs."""
    args = dies_with_parent(["true"])
    pid_at = args.index(str(os.getpid()))
    args[pid_at] = "1"  # "my parent is PID 1": not the real parent, as if it had died
    done = subprocess.run(args, capture_output=True, timeout=30)
    assert done.returncode == 70
