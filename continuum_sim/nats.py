"""A local ``nats-server`` with JetStream, for tests, benchmarks and the demo.

``NatsServer`` starts ``nats-server -a 127.0.0.1 -p <free port> -js -sd <dir>`` as its own
process, waits until the server answers with its ``INFO`` line, and stops it by its own PID
(never by name). :meth:`NatsServer.restart` keeps the port and the store directory, so clients
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

import shutil
from pathlib import Path

import anyio

from continuum.aclose import AsyncStartStop
from continuum_sim.process import ManagedProcess, free_port

__all__ = ["NatsServer", "NatsServerError", "free_port"]


class NatsServerError(RuntimeError):
    """The server binary is missing, exited early, or did not become ready in time."""


class NatsServer(AsyncStartStop):
    """One ``nats-server`` process with JetStream, owned by this object.

    ``url`` is fixed for the object's lifetime (the port is chosen once, at the first start).
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
    ) -> None:
        self.workdir = Path(workdir)
        self.host = host
        self._port = port
        self._binary = binary
        self._jetstream = jetstream
        self._ready_timeout = ready_timeout
        self._stop_timeout = stop_timeout
        self._extra_args = extra_args
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
        if self._port is None:
            self._port = free_port(self.host)
        args = [exe, "-a", self.host, "-p", str(self._port)]
        if self._jetstream:
            args += ["-js", "-sd", str(self.store_dir)]
        args += list(self._extra_args)
        await self._process.stop()  # a process that exited by itself
        await self._process.spawn(args)
        try:
            await self._process.wait_ready(
                self._answers_info, timeout=self._ready_timeout, interval=0.01
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
