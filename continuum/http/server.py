"""Run an ASGI app under uvicorn inside the caller's task group, and stop it cleanly.

``serve_api`` (and ``serve_metrics`` in ``continuum.http.metrics``) return only when cancelled
— the normal way to stop them — or raise when the server could not start or stopped on its
own. On cancellation the listener stops accepting at once, in-flight requests get up to
``shutdown_timeout`` seconds to finish (then they are cancelled), and only then does the call
re-raise the cancellation: nothing is left listening or running behind the caller's back.

uvicorn never installs signal handlers here (the process lifecycle owns SIGTERM/SIGINT) and
never configures logging (its log records go through the project's structlog setup). It runs
on asyncio only, so these functions need the asyncio backend of anyio.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from typing import Any, Final

import anyio
import uvicorn

from continuum.config import Address

DEFAULT_SHUTDOWN_TIMEOUT: Final = 5.0
IDLE_TIMEOUT: Final = 60
"""Seconds an idle keep-alive connection stays open."""


class ServerFailed(RuntimeError):
    """The HTTP server could not start (e.g. the application's startup failed) or stopped on
    its own."""


def bind_listener(addr: Address) -> socket.socket:
    """A listening TCP socket on ``addr`` (host ``""``: every IPv4 interface; port 0: a free
    port, read it back with ``getsockname()``). Raises OSError when the address is taken."""
    family = socket.AF_INET6 if ":" in addr.host else socket.AF_INET
    # proto must say TCP: asyncio disables Nagle only on sockets whose proto is IPPROTO_TCP;
    # with proto 0, every response waits ~40 ms for the peer's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((addr.host or "0.0.0.0", addr.port))
        sock.listen(1024)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server without signal capture, reporting when it has started."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_started = on_started

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit and self._on_started is not None:
            self._on_started()


async def serve_asgi(
    app: Any,
    listener: Address | socket.socket,
    *,
    ready: anyio.Event | None = None,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
) -> None:
    """Serve ``app`` on ``listener`` (an address, or a listening socket this call takes over
    and closes) until cancelled; see the module docstring for the guarantees.

    ``ready`` is set once the server accepts connections. Raises :class:`ServerFailed` if the
    server fails to start or stops by itself; OSError if the address cannot be bound.
    """
    sock = listener if isinstance(listener, socket.socket) else bind_listener(listener)
    where = _describe(sock)
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_keep_alive=IDLE_TIMEOUT,
        timeout_graceful_shutdown=max(1, round(shutdown_timeout)),
    )
    server = _Server(config, ready.set if ready is not None else None)
    finished = anyio.Event()
    failure: list[BaseException] = []

    async def run() -> None:
        # Shielded: a cancellation must reach uvicorn as should_exit (graceful), never as a
        # CancelledError in the middle of its main loop (which would skip its shutdown).
        with anyio.CancelScope(shield=True):
            try:
                await server.serve(sockets=[sock])
            except BaseException as exc:  # uvicorn reports a failed startup with SystemExit
                failure.append(exc)
            finally:
                sock.close()
                finished.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, name="uvicorn")
        try:
            await finished.wait()
        finally:
            server.should_exit = True
    if failure:
        raise ServerFailed(f"HTTP server on {where} failed: {failure[0]!r}") from (failure[0])
    raise ServerFailed(f"HTTP server on {where} stopped by itself")


async def serve_api(
    app: Any,
    addr: Address | socket.socket,
    *,
    ready: anyio.Event | None = None,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
) -> None:
    """Serve the API application (``create_app``) on ``addr`` until cancelled (see
    :func:`serve_asgi`)."""
    await serve_asgi(app, addr, ready=ready, shutdown_timeout=shutdown_timeout)


def _describe(sock: socket.socket) -> str:
    try:
        host, port, *_ = sock.getsockname()
    except OSError:
        return "a closed socket"
    return f"{host}:{port}"
