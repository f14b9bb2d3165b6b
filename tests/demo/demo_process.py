"""Start ``continuum demo`` as a real process and read what it prints (for the demo tests)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil


def start_demo(*args: str, tmpdir: Path | None = None) -> subprocess.Popen[str]:
    """``continuum demo --api-port 0 ARGS`` (every port picked by the kernel); ``tmpdir``
    becomes the process's TMPDIR, where its ``continuum-demo-*`` directory goes."""
    env = {**os.environ, "CONTINUUM_REGION": ""}
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return subprocess.Popen(
        [sys.executable, "-m", "continuum", "demo", "--api-port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_until_running(proc: subprocess.Popen[str], *, timeout: float = 120) -> list[str]:
    """The lines printed up to the end of the "Try:" block (``Ctrl-C stops.``)."""
    return read_until(proc, "Ctrl-C stops", timeout=timeout)


def read_until(proc: subprocess.Popen[str], marker: str, *, timeout: float = 120) -> list[str]:
    """The lines printed from here up to the first one containing ``marker``."""
    assert proc.stdout is not None
    printed: list[str] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        printed.append(line)
        if marker in line:
            return printed
    raise AssertionError(f"the demo never printed {marker!r}:\n" + "".join(printed))


def api_ports(printed: list[str]) -> tuple[int, int]:
    """Region A's and region B's API ports, as the demo printed them."""
    text = "".join(printed)
    a = re.search(r"--api http://127\.0\.0\.1:(\d+)", text)
    b = re.search(r"serves the same API on :(\d+)", text)
    assert a is not None, text
    assert b is not None, text
    return int(a.group(1)), int(b.group(1))


def gone(pid: int, *, within: float) -> bool:
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


def processes_mentioning(path: Path) -> list[str]:
    """Command lines of live processes that name ``path`` (the demo's servers do)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        cmd = " ".join(proc.info.get("cmdline") or [])
        if str(path) in cmd:
            found.append(cmd)
    return found
