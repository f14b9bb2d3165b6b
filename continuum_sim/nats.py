"""A local ``nats-server`` with JetStream, for tests, benchmarks and the demo.

``NatsServer`` starts ``nats-server -a 127.0.0.1 -p -1 -js -sd <dir>`` as its own process:
the server binds a port the kernel picks and reports it in its ports file
(``--ports_file_dir``), so no port is chosen in advance and nothing can take it first. It
waits until the server answers with its ``INFO`` line, and stops it by its own PID (never by
name). :meth:`NatsServer.restart` keeps the port and the store directory, so clients
reconnect to the same URL and JetStream streams / KV buckets survive. Works on both anyio
backends (the launcher itself does no asyncio-only I/O).

A pytest fixture, for a suite whose ``anyio_backend`` is ``"asyncio"`` (nats-py needs it)::

    import pytest
    from continuum_sim.nats import NatsServer

    @pytest.fixture
    async def nats_server(tmp_path):
        async with NatsServer(tmp_path / "nats") as server:
            yield server

    async def test_something(nats_server):
        nc = await nats.connect(nats_server.url)
        ...
        await nats_server.restart()     # same URL, same store
        await nats_server.stop()        # outage; start() brings it back

Each test gets its own directory and port, so it is safe under ``pytest -n``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import anyio

from continuum.aclose import AsyncStartStop
from continuum_sim.process import ManagedProcess

__all__ = ["NatsServer", "NatsServerError"]


class NatsServerError(RuntimeError):
    """The server binary is missing, exited early, or did not become ready in time."""


class NatsServer(AsyncStartStop):
    """One ``nats-server`` process with JetStream, owned by this object.

    ``url`` is fixed for the object's lifetime: the kernel picks the port at the first start
    (unless ``port`` is given), and restarts ask for that same port again. A restart fails
    with :class:`NatsServerError` if another process took the port while the server was down
    (nats-server reports the failed bind and exits). ``monitoring=True`` also serves the HTTP
    monitoring endpoints on a kernel-picked port (:attr:`monitor_url`).
    ``start()`` returns once clients can connect; ``stop()`` terminates the process (SIGTERM,
    then SIGKILL after ``stop_timeout``) and is idempotent; ``kill()`` is an abrupt SIGKILL
    (a crash). The store directory (``<workdir>/store``) and the log (``<workdir>/nats.log``)
    are kept across restarts and left on disk afterwards.
    """

    def __init__(
        self,
        workdir: Path | str,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        binary: str = "nats-server",
        jetstream: bool = True,
        ready_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        extra_args: tuple[str, ...] = (),
        monitoring: bool = False,
    ) -> None:
        self.workdir = Path(workdir)
        self.host = host
        self._port = port
        self._binary = binary
        self._jetstream = jetstream
        self._ready_timeout = ready_timeout
        self._stop_timeout = stop_timeout
        self._extra_args = extra_args
        self._monitoring = monitoring
        self._monitor_port: int | None = None
        self._process = ManagedProcess(
            name="nats-server",
            log_path=self.workdir / "nats.log",
            error=NatsServerError,
            stop_timeout=stop_timeout,
        )

    # --- properties ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The client port (chosen at the first start unless given)."""
        if self._port is None:
            raise NatsServerError("the server has not been started yet")
        return self._port

    @property
    def monitor_url(self) -> str:
        """``http://host:port`` of the monitoring endpoints (``monitoring=True`` only)."""
        if self._monitor_port is None:
            raise NatsServerError("no monitoring port (monitoring=False or not started)")
        return f"http://{self.host}:{self._monitor_port}"

    @property
    def url(self) -> str:
        """``nats://host:port``; valid before, during and after restarts."""
        return f"nats://{self.host}:{self.port}"

    @property
    def store_dir(self) -> Path:
        """JetStream store directory (``-sd``), kept across restarts."""
        return self.workdir / "store"

    @property
    def log_path(self) -> Path:
        """The server's stdout/stderr, appended across restarts."""
        return self._process.log_path

    @property
    def pid(self) -> int | None:
        """PID of the running process, ``None`` when stopped."""
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether this object's process is alive."""
        return self._process.running

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the server (no-op when running) and return once it accepts clients.

        Raises :class:`NatsServerError` when the binary is missing, the process exits, or it
        is not ready within ``ready_timeout`` seconds (the process is then stopped).
        """
        if self.running:
            return
        exe = shutil.which(self._binary)
        if exe is None:
            raise NatsServerError(f"{self._binary!r} not found on PATH")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._ports_dir.mkdir(parents=True, exist_ok=True)
        args = [exe, "-a", self.host, "-p", str(self._port or -1)]
        args += ["--ports_file_dir", str(self._ports_dir)]
        if self._monitoring:
            args += ["-m", str(self._monitor_port or -1)]
        if self._jetstream:
            args += ["-js", "-sd", str(self.store_dir)]
        args += list(self._extra_args)
        await self._process.stop()  # a process that exited by itself
        await self._process.spawn(args)
        try:
            await self._process.wait_ready(
                self._bound_and_answers_info, timeout=self._ready_timeout, interval=0.01
            )
        except BaseException:
            await self._process.stop()
            raise

    async def stop(self) -> None:
        """Terminate the process by its PID and wait for it; idempotent.

        SIGTERM first (JetStream flushes its store), SIGKILL after ``stop_timeout``.
        """
        await self._process.stop()

    async def kill(self) -> None:
        """Crash the server: SIGKILL, no flush. Data already acknowledged by JetStream
        with file storage survives (it is written before the ack)."""
        await self._process.kill()

    async def restart(self) -> None:
        """Stop then start again on the same port with the same store directory."""
        await self.stop()
        await self.start()

    # --- internals ----------------------------------------------------------------------

    @property
    def _ports_dir(self) -> Path:
        return self.workdir / "ports"

    def _read_ports_file(self) -> bool:
        """Take the ports the running server reports (written once all its listeners are
        bound; removed when it exits)."""
        path = self._ports_dir / f"{Path(self._binary).name}_{self._process.pid}.ports"
        try:
            ports = json.loads(path.read_text())
        except (OSError, ValueError):
            return False
        self._port = int(ports["nats"][0].rpartition(":")[2])
        if self._monitoring:
            self._monitor_port = int(ports["monitoring"][0].rpartition(":")[2])
        return True

    async def _bound_and_answers_info(self) -> bool:
        return self._read_ports_file() and await self._answers_info()

    async def _answers_info(self) -> bool:
        try:
            with anyio.fail_after(1.0):
                stream = await anyio.connect_tcp(self.host, self.port)
                async with stream:
                    data = await stream.receive(4096)
        except (OSError, TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError):
            return False
        return data.startswith(b"INFO ")

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.running else "stopped"
        return f"NatsServer({self.url if self._port else '?'}, {state})"
