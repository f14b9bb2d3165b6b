r"""A child server process owned by one object: start, readiness polling, stop by its own PID.

:class:`ManagedProcess` is what the launchers in :mod:`continuum_sim` (``nats-server``,
``pdns_server``, ``postgres``) share. It starts one command with stdout and stderr appended to
a log file, polls a readiness probe within a real-time bound, and stops the process through its
own handle only — a polite signal first, SIGKILL after a bound — never anything found by name.
Works on both anyio backends.

Every process it starts dies with the process that started it, whatever ends that one —
SIGKILL included: the command runs behind ``setpriv --pdeathsig KILL`` (``PR_SET_PDEATHSIG``
via ``prctl``), which ``exec``\ s the server, so the PID is the server's own; see
:func:`dies_with_parent`. Linux only; the parent is the *thread* that spawned the child, so
launchers must run on the event loop's thread (they do: anyio starts processes from it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

import anyio
import anyio.abc

__all__ = ["ManagedProcess", "candidate_port", "dies_with_parent", "listening_tcp4"]


def candidate_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago — only a proposal, for a server that
    cannot bind port 0 and report it. Whoever binds it must detect a lost race
    deterministically (the server's own "address already in use" refusal) and start again
    on a new proposal; see ``docs/testing.md``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


SETPRIV = "setpriv"  # util-linux (Essential on Debian): runs a command with PR_SET_PDEATHSIG
# Runs after the death signal is set: exits if the parent is already gone (the signal would
# never come), else becomes the command (same PID).
_CHECK_PARENT = '[ "$PPID" = "$1" ] || exit 70; shift; exec "$@"'


def dies_with_parent(args: Sequence[str]) -> list[str]:
    r"""``args`` wrapped so the process gets SIGKILL when the calling process dies (by any
    signal, SIGKILL included): ``setpriv --pdeathsig KILL`` sets ``PR_SET_PDEATHSIG`` with
    ``prctl``, then a ``sh`` checks the parent is still this process and ``exec``\ s the
    command — which keeps the PID. It exits with code 70 without running the command when
    this process is already gone. Works for a child started under another user (no
    interpreter of ours needs to be readable by it)."""
    return [
        SETPRIV, "--pdeathsig", "KILL", "--",
        "/bin/sh", "-c", _CHECK_PARENT, "sh", str(os.getpid()), *args,
    ]  # fmt: skip


def listening_tcp4(pid: int) -> set[tuple[str, int]]:
    """The IPv4 ``(address, port)`` pairs process ``pid`` listens on (TCP), read from
    ``/proc``: how a launcher learns the port a server bound when it was told port 0.
    Empty when the process is gone or its sockets cannot be read."""
    try:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        with open(f"/proc/{pid}/net/tcp") as table:
            rows = table.read().splitlines()[1:]
    except OSError:
        return set()
    found = set()
    for row in rows:
        fields = row.split()
        if len(fields) > 9 and fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
            hex_ip, hex_port = fields[1].split(":")
            ip = socket.inet_ntoa(int(hex_ip, 16).to_bytes(4, "little"))
            found.add((ip, int(hex_port, 16)))
    return found


class ManagedProcess:
    """At most one running process at a time, started by :meth:`spawn`, logged to ``log_path``.

    ``stop_signal`` (default SIGTERM) is the polite stop; SIGKILL follows after
    ``stop_timeout`` seconds. The log is opened for appending at each spawn and closed when the
    process is stopped, so one log holds every run. ``error`` builds the exception raised when
    the process exits early or is not ready in time (the launcher's own error type).
    """

    def __init__(
        self,
        *,
        name: str,
        log_path: Path,
        error: Callable[[str], Exception],
        stop_signal: signal.Signals = signal.SIGTERM,
        stop_timeout: float = 5.0,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._error = error
        self._stop_signal = stop_signal
        self._stop_timeout = stop_timeout
        self._process: anyio.abc.Process | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """PID of the current process, ``None`` when none was spawned since the last stop."""
        return self._process.pid if self._process is not None else None

    @property
    def spawned(self) -> bool:
        """Whether a process was spawned and not yet stopped (it may have exited by itself)."""
        return self._process is not None

    @property
    def running(self) -> bool:
        """Whether the current process is alive."""
        return self._process is not None and self._process.returncode is None

    @property
    def returncode(self) -> int | None:
        """The exit code of the current process; ``None`` while it runs or when none."""
        return self._process.returncode if self._process is not None else None

    async def spawn(
        self,
        args: Sequence[str],
        *,
        user: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Start ``args`` (stdin from /dev/null, output appended to the log); it dies with
        this process (see the module docstring). The caller makes sure no process is current
        (``stop`` first)."""
        assert self._process is None, f"{self.name} already spawned"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        try:
            self._process = await anyio.open_process(
                dies_with_parent(args),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                user=user,
                env=dict(env) if env is not None else None,
            )
        except BaseException:
            self._close_log()
            raise

    async def wait_ready(
        self,
        probe: Callable[[], Awaitable[bool]],
        *,
        timeout: float,
        interval: float,
        show_log: bool = False,
    ) -> None:
        """Return once ``probe()`` is true; poll every ``interval`` real seconds.

        Raises the launcher's error when the process has exited (checked before every probe)
        or after ``timeout`` real seconds; the message names the log (``show_log``: quotes its
        last 2,000 characters). Never stops the process itself.
        """
        with anyio.move_on_after(timeout):
            while True:
                if not self.running:
                    code = self.returncode
                    raise self._error(
                        f"{self.name} exited early (code {code}){self._see_log(show_log)}"
                    )
                if await probe():
                    return
                await anyio.sleep(interval)
        raise self._error(f"{self.name} not ready after {timeout}s{self._see_log(show_log)}")

    async def stop(self) -> None:
        """Stop the current process by its PID and wait for it; idempotent; shielded from
        cancellation. ``stop_signal`` first, SIGKILL after ``stop_timeout``."""
        await self._end(self._stop_signal)

    async def kill(self) -> None:
        """SIGKILL the current process (a crash: no flush) and wait for it; idempotent."""
        await self._end(signal.SIGKILL)

    def log_size(self) -> int:
        """The log's current size in bytes (0 when there is none): an offset for
        :meth:`log_since`."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> bytes:
        """What the log gained after ``offset`` (empty when there is no log)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read()
        except OSError:
            return b""

    def log_tail(self, chars: int = 2000) -> str:
        """The last ``chars`` characters of the log, or ``(no log)``."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    async def _end(self, first: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is not None:
            with anyio.CancelScope(shield=True):
                if process.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        process.send_signal(first)
                    if first != signal.SIGKILL:
                        with anyio.move_on_after(self._stop_timeout):
                            await process.wait()
                    if process.returncode is None:
                        with contextlib.suppress(ProcessLookupError):
                            process.kill()
                        await process.wait()
                await process.aclose()
        self._close_log()

    def _see_log(self, show_log: bool) -> str:
        if show_log:
            return f":\n{self.log_tail()}"
        return f"; see {self.log_path}"

    def _close_log(self) -> None:
        log, self._log = self._log, None
        if log is not None:
            log.close()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        return f"ManagedProcess({self.name}, {state}, log={os.fspath(self.log_path)})"
