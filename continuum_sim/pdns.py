"""A real ``pdns_server`` (PowerDNS Authoritative 4.7, gsqlite3 backend, LUA records, HTTP
API) started on loopback for tests, benchmarks and ``continuum demo``.

One :class:`PdnsServer` is one process with its own config dir and database. It may listen on
several ``127.x`` addresses at once (one server, several DNS "vantages" with the same data),
and several independent servers may share one DNS port on different addresses (vantages with
different data): :func:`start_sharing_dns_port`.

Ports, without a race: the HTTP API binds port 0 (the kernel picks; the launcher reads the
port from the process's own listening sockets). pdns cannot bind its DNS port to 0 (UDP and
TCP, on every address, must share one port), so the launcher proposes a port that is free at
that moment and detects, deterministically, when pdns could not bind it — pdns logs
``Address already in use`` and exits — and then starts again on a fresh port. It never
retries on anything else, and never on a port it was given.

The process is started as its own command and stopped by its own PID; nothing else is ever
signalled.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path

import httpx

from continuum.aclose import AsyncStartStop
from continuum_sim.process import ManagedProcess, listening_tcp4

PDNS_BINARY = "/usr/sbin/pdns_server"
SQLITE_SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")

_START_ATTEMPTS = 3


class PdnsStartError(RuntimeError):
    """``pdns_server`` exited or did not answer its API before the startup deadline."""


class PdnsPortTaken(PdnsStartError):
    """``pdns_server`` could not bind a port it was told to use: another process holds it."""


_IN_USE = b"Address already in use"


def candidate_dns_port(addresses: Sequence[str]) -> int:
    """A port that is free for both UDP and TCP on every address in ``addresses`` at the
    time of the call. Only a proposal: whoever binds it must detect a lost race (see the
    module docstring)."""
    for _ in range(64):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((addresses[0], 0))
            port = int(probe.getsockname()[1])
        if all(_port_free(address, port) for address in addresses):
            return port
    raise PdnsStartError(f"no port free on all of {list(addresses)}")


async def start_sharing_dns_port(servers: Sequence[PdnsServer]) -> int:
    """Start ``servers`` (not yet started, on different addresses) on one common DNS port;
    return it. A port lost to another process (detected, see the module docstring) stops
    them all and starts again on a fresh port; other failures are raised after stopping
    whatever was started."""
    addresses = [address for server in servers for address in server.addresses]
    for _ in range(_START_ATTEMPTS):
        port = candidate_dns_port(addresses)
        try:
            for server in servers:
                server.dns_port = server._fixed_dns_port = port
                await server.start()
            return port
        except PdnsPortTaken:
            for server in servers:
                await server.stop()
        except BaseException:
            for server in servers:
                await server.stop()
            raise
    raise PdnsPortTaken(f"lost the DNS port race {_START_ATTEMPTS} times on {addresses}")


def _port_free(address: str, port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            if kind == socket.SOCK_STREAM:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, port))
            except OSError:
                return False
    return True


class PdnsServer(AsyncStartStop):
    """A ``pdns_server`` process listening for DNS on ``addresses`` and serving its HTTP API.

    Use as ``async with PdnsServer(tmpdir, addresses=("127.0.0.1",), api_key="k") as pdns``;
    then ``pdns.dns_port``, ``pdns.api_url`` (``http://<addr>:<port>``, no trailing slash),
    ``pdns.api_key``, ``pdns.addresses``. Entering returns once the API answers 200 (about
    0.1 s); leaving stops the process (SIGTERM, then SIGKILL after ``stop_timeout``) and
    keeps its files. :meth:`start` / :meth:`stop` do the same explicitly and may be called
    again to restart the same server with the same data and ports.

    Works on either anyio backend. Raises :class:`PdnsStartError` when the server does not
    come up (its log is in the message).
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        addresses: Sequence[str] = ("127.0.0.1",),
        api_key: str | None = None,
        dns_port: int | None = None,
        api_port: int | None = None,
        startup_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        extra_config: Sequence[str] = (),
    ) -> None:
        if not addresses:
            raise ValueError("PdnsServer needs at least one address")
        self.addresses: tuple[str, ...] = tuple(addresses)
        self.api_key: str = api_key or secrets.token_hex(16)
        self.dir = Path(tempfile.mkdtemp(prefix="pdns-", dir=os.fspath(workdir)))
        self._fixed_dns_port = dns_port
        self.dns_port: int = dns_port or 0
        self.api_port: int = api_port or 0  # 0: the kernel picks at the first start
        self._startup_timeout = startup_timeout
        self._extra_config = tuple(extra_config)
        self._process = ManagedProcess(
            name="pdns_server",
            log_path=self.dir / "pdns.log",
            error=PdnsStartError,
            stop_timeout=stop_timeout,
        )
        self._socket_dir: Path | None = None
        self._init_database()

    @property
    def api_address(self) -> str:
        """The address the HTTP API listens on (the first DNS address)."""
        return self.addresses[0]

    @property
    def api_url(self) -> str:
        return f"http://{self.api_address}:{self.api_port}"

    @property
    def database(self) -> Path:
        return self.dir / "pdns.sqlite3"

    @property
    def log_path(self) -> Path:
        return self._process.log_path

    @property
    def pid(self) -> int | None:
        """PID of the running server, ``None`` when stopped."""
        return self._process.pid

    @property
    def nameservers(self) -> list[str]:
        """Every DNS vantage of this server as ``ip:port``."""
        return [f"{address}:{self.dns_port}" for address in self.addresses]

    async def start(self) -> None:
        """Start the process and return once its API answers 200. No-op when running.

        The first start binds the API to a port the kernel picks and proposes a free DNS port
        (unless given); restarts ask for the same ports again. Raises :class:`PdnsPortTaken`
        when a port it was given (or, on a restart, one it had) is held by another process,
        :class:`PdnsStartError` for any other failure.
        """
        if self._process.spawned:
            return
        for _ in range(_START_ATTEMPTS):
            chose_dns = not self._fixed_dns_port and not self.dns_port
            if chose_dns:
                self.dns_port = candidate_dns_port(self.addresses)
            try:
                await self._start_once()
                return
            except PdnsPortTaken:
                await self.stop()
                if not chose_dns:
                    raise
                self.dns_port = 0  # lost the race for the port proposed: propose another
            except BaseException:
                await self.stop()
                raise
        raise PdnsPortTaken(f"lost the DNS port race {_START_ATTEMPTS} times; see {self.log_path}")

    async def stop(self) -> None:
        """Stop the process by its PID and wait for it to exit. Idempotent."""
        await self._process.stop()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    async def _start_once(self) -> None:
        self._prepare_run()
        log_start = self._process.log_size()
        await self._process.spawn([PDNS_BINARY, f"--config-dir={self.dir}"])
        headers = {"X-API-Key": self.api_key}
        async with httpx.AsyncClient(timeout=1.0) as client:

            async def answers() -> bool:
                if self._process.log_since(log_start).find(_IN_USE) >= 0:
                    raise PdnsPortTaken(
                        f"pdns_server could not bind its ports (dns {self.dns_port}, "
                        f"api {self.api_port or 'any'}): address already in use; "
                        f"see {self.log_path}"
                    )
                if not self.api_port:
                    self.api_port = self._bound_api_port()
                    if not self.api_port:
                        return False
                url = f"{self.api_url}/api/v1/servers/localhost"
                with contextlib.suppress(httpx.TransportError):
                    return (await client.get(url, headers=headers)).status_code == 200
                return False

            try:
                await self._process.wait_ready(
                    answers, timeout=self._startup_timeout, interval=0.02, show_log=True
                )
            except PdnsStartError:
                if self._process.log_since(log_start).find(_IN_USE) >= 0:  # it exited on a bind
                    raise PdnsPortTaken(
                        f"pdns_server could not bind its ports: address already in use; "
                        f"see {self.log_path}"
                    ) from None
                raise

    def _bound_api_port(self) -> int:
        """The port of the process's own listening TCP socket that is not the DNS port (the
        webserver bound port 0); 0 while it is not listening yet."""
        pid = self._process.pid
        if pid is None:
            return 0
        for address, port in listening_tcp4(pid):
            if address == self.api_address and port != self.dns_port:
                return port
        return 0

    def _init_database(self) -> None:
        with contextlib.closing(sqlite3.connect(self.database)) as db:
            db.executescript(SQLITE_SCHEMA.read_text())
            db.commit()
        if os.geteuid() == 0:
            # pdns may drop to user pdns (setuid=pdns in a site config): let it own its files.
            for path in (self.dir, self.database):
                with contextlib.suppress(KeyError, LookupError, OSError):
                    shutil.chown(path, "pdns", "pdns")

    def _prepare_run(self) -> None:
        """Write the config for the current ports."""
        # The control socket path must fit a sockaddr_un (108 bytes): pytest's tmp paths do
        # not, so it lives in a short directory of its own, removed on stop().
        self._socket_dir = Path(tempfile.mkdtemp(prefix="pdns-"))
        if os.geteuid() == 0:
            with contextlib.suppress(KeyError, LookupError, OSError):
                shutil.chown(self._socket_dir, "pdns", "pdns")
        self._write_config()

    def _write_config(self) -> None:
        local = ", ".join(f"{address}:{self.dns_port}" for address in self.addresses)
        lines = [
            "launch=gsqlite3",
            f"gsqlite3-database={self.database}",
            "gsqlite3-dnssec=no",
            f"local-address={local}",
            "enable-lua-records=yes",
            "lua-health-checks-interval=1",
            "webserver=yes",
            f"webserver-address={self.api_address}",
            f"webserver-port={self.api_port}",
            "webserver-allow-from=127.0.0.0/8",
            "api=yes",
            f"api-key={self.api_key}",
            "cache-ttl=0",
            "negquery-cache-ttl=0",
            "query-cache-ttl=0",
            "zone-cache-refresh-interval=0",
            "consistent-backends=yes",
            "security-poll-suffix=",
            "daemon=no",
            "guardian=no",
            "disable-syslog=yes",
            f"socket-dir={self._socket_dir}",
            *self._extra_config,
        ]
        (self.dir / "pdns.conf").write_text("\n".join(lines) + "\n")
