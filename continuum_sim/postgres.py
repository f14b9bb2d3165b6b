"""A local PostgreSQL primary with one streaming standby, for tests, benchmarks and the demo.

``async with PostgresPair(workdir) as pg:`` creates a primary with ``initdb`` on a free
loopback port, a standby with ``pg_basebackup -R`` on another, and returns once the standby
streams (it shows in the primary's ``pg_stat_replication`` as ``<name>-replica``, the
``application_name`` CNPG's pair uses). Asyncio only (admin SQL goes through asyncpg)::

    async with PostgresPair(tmp_path, name="demo") as pg:
        probe = PgReplicationProbe(pg.primary_dsn, clock=SystemClock())
        await pg.pause_replay()
        await pg.write_rows(100)          # the standby now lags

Authentication: unix-socket connections are ``trust`` (the launcher's own admin work), the
``replicator`` role replicates over TCP (``trust``, loopback only), and every other TCP
login needs a password (scram) — ``probe_user`` has one and is a member of ``pg_monitor``,
so it sees ``pg_stat_replication`` unmasked. ``tls=(cert, key)`` turns on server TLS.

Running as root, the server processes run as the ``postgres`` OS user (``initdb`` refuses
root) and the data lives in a fresh directory under the system temp dir (``workdir`` may not
be reachable by that user); logs go to ``workdir``. Processes are stopped by their own PID
(SIGINT = fast shutdown, SIGKILL after ``stop_timeout``); data directories are removed on
exit. Binaries come from ``pg_config --bindir`` or ``/usr/lib/postgresql/*/bin``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import anyio
import asyncpg

from continuum.aclose import AsyncStartStop
from continuum_sim.process import ManagedProcess, candidate_port

__all__ = ["PostgresError", "PostgresPair", "find_bindir"]

REPLICATION_USER = "replicator"
ROWS_TABLE = "continuum_probe_rows"


class PostgresError(RuntimeError):
    """A binary is missing, a command failed, or a server did not become ready in time."""


def find_bindir() -> Path:
    """The PostgreSQL server binaries' directory. Raises :class:`PostgresError` if none."""
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            )
            candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise PostgresError("no PostgreSQL server binaries (initdb) found")


_PORT_ATTEMPTS = 5
_IN_USE = b"Address already in use"


class _Server:
    """One postgres process over one data directory (stopped by SIGINT: fast shutdown)."""

    def __init__(
        self, *, role: str, datadir: Path, sockdir: Path, port: int, log: Path, stop_timeout: float
    ) -> None:
        self.role = role
        self.datadir = datadir
        self.sockdir = sockdir
        self.port = port
        self.process = ManagedProcess(
            name=role,
            log_path=log,
            error=PostgresError,
            stop_signal=signal.SIGINT,
            stop_timeout=stop_timeout,
        )

    @property
    def running(self) -> bool:
        return self.process.running


class PostgresPair(AsyncStartStop):
    """A primary and a streaming standby owned by this object (see the module docstring).

    ``primary_dsn``/``standby_dsn`` are URI DSNs for ``probe_user`` over TCP, with the
    password. ``stop_standby``/``start_standby`` and ``stop_primary``/``start_primary`` keep
    ports and data; ``pause_replay``/``resume_replay`` act on the standby's WAL replay.
    """

    def __init__(
        self,
        workdir: Path | str,
        *,
        name: str = "demo",
        host: str = "127.0.0.1",
        probe_user: str = "continuum_probe",
        probe_password: str | None = None,
        tls: tuple[Path, Path] | None = None,
        bindir: Path | None = None,
        os_user: str = "postgres",
        ready_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.name = name
        self.host = host
        self.probe_user = probe_user
        self.probe_password = probe_password or secrets.token_urlsafe(16)
        self._tls = tls
        self._bindir = bindir
        self._as_root = os.geteuid() == 0
        self._os_user = os_user if self._as_root else None
        self._ready_timeout = ready_timeout
        self._stop_timeout = stop_timeout
        self._root: Path | None = None
        self.primary: _Server | None = None
        self.standby: _Server | None = None

    # --- what callers use -----------------------------------------------------------------

    @property
    def application_name(self) -> str:
        """The standby's ``application_name`` on the primary: ``<name>-replica``."""
        return f"{self.name}-replica"

    @property
    def primary_dsn(self) -> str:
        return self.dsn(self._server("primary"))

    @property
    def standby_dsn(self) -> str:
        return self.dsn(self._server("standby"))

    def dsn(self, server: _Server, *, user: str | None = None, password: str | None = None) -> str:
        """A TCP URI DSN for ``server`` (default: the probe user and its password)."""
        who = user or self.probe_user
        secret = self.probe_password if password is None else password
        return f"postgresql://{who}:{secret}@{self.host}:{server.port}/postgres?sslmode=disable"

    async def admin(self, role: str = "primary") -> Any:
        """A superuser asyncpg connection over the unix socket (caller closes it)."""
        server = self._server(role)
        return await asyncpg.connect(
            host=str(server.sockdir), port=server.port, user="postgres", database="postgres"
        )

    async def execute(self, sql: str, *args: object, role: str = "primary") -> Any:
        """Run one statement as superuser on ``role`` and return its first value."""
        conn = await self.admin(role)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def write_rows(self, n: int) -> None:
        """Insert ``n`` rows on the primary (one committed transaction)."""
        await self.execute(
            f"INSERT INTO {ROWS_TABLE} (payload) SELECT md5(g::text) FROM generate_series(1, $1) g",
            n,
        )

    async def pause_replay(self) -> None:
        """``pg_wal_replay_pause()`` on the standby: it keeps receiving WAL, stops applying it."""
        await self.execute("SELECT pg_wal_replay_pause()", role="standby")

    async def resume_replay(self) -> None:
        await self.execute("SELECT pg_wal_replay_resume()", role="standby")

    async def stop_standby(self) -> None:
        await self._server("standby").process.stop()

    async def start_standby(self, *, wait_streaming: bool = True) -> None:
        await self._start(self._server("standby"))
        if wait_streaming:
            await self.wait_streaming()

    async def stop_primary(self) -> None:
        await self._server("primary").process.stop()

    async def start_primary(self, *, wait_streaming: bool = True) -> None:
        await self._start(self._server("primary"))
        if wait_streaming:
            await self.wait_streaming()

    async def wait_streaming(self) -> None:
        """Return once the primary lists the standby as ``streaming`` and the standby has
        reported replaying everything the primary has written (replay lag measured, 0)."""
        query = (
            "SELECT count(*) FROM pg_stat_replication WHERE application_name = $1"
            " AND state = 'streaming' AND replay_lsn >= pg_current_wal_lsn()"
        )
        await self._poll(
            f"{self.application_name} streaming",
            lambda: self.execute(query, self.application_name),
        )

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Create both servers and return once the standby streams. Raises
        :class:`PostgresError`; on failure everything started is stopped again."""
        try:
            await self._create()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.stop()
            raise

    async def stop(self) -> None:
        """Stop both servers (standby first) and remove the data; idempotent."""
        with anyio.CancelScope(shield=True):
            for server in (self.standby, self.primary):
                if server is not None:
                    await server.process.stop()
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None

    close = stop

    # --- internals ------------------------------------------------------------------------

    def _server(self, role: str) -> _Server:
        server = self.primary if role == "primary" else self.standby
        if server is None:
            raise PostgresError(f"the {role} has not been created")
        return server

    async def _create(self) -> None:
        bindir = self._bindir or find_bindir()
        self._bindir = bindir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._root = Path(tempfile.mkdtemp(prefix="continuum-pg-"))
        primary = _Server(
            role="primary",
            datadir=self._root / "primary",
            sockdir=self._root / "sp",
            port=candidate_port(self.host),
            log=self.workdir / "primary.log",
            stop_timeout=self._stop_timeout,
        )
        standby = _Server(
            role="standby",
            datadir=self._root / "standby",
            sockdir=self._root / "ss",
            port=candidate_port(self.host),
            log=self.workdir / "standby.log",
            stop_timeout=self._stop_timeout,
        )
        for sockdir in (primary.sockdir, standby.sockdir):
            sockdir.mkdir()
        self._chown(self._root, primary.sockdir, standby.sockdir)
        await self._run(
            "initdb", "-D", str(primary.datadir), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-sync", "--no-instructions",
        )  # fmt: skip
        self._configure_primary(primary)
        self.primary = primary
        await self._start(primary, first=True)
        await self._bootstrap_roles()
        await self._run(
            "pg_basebackup", "-D", str(standby.datadir), "-h", self.host,
            "-p", str(primary.port), "-U", REPLICATION_USER, "-R", "-X", "stream",
            "--no-sync", "-c", "fast",
        )  # fmt: skip
        conninfo = (
            f"host={self.host} port={primary.port} user={REPLICATION_USER} "
            f"application_name={self.application_name}"
        )
        with (standby.datadir / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"primary_conninfo = '{conninfo}'\n")
        self.standby = standby
        await self._start(standby, first=True)
        await self.wait_streaming()

    def _configure_primary(self, primary: _Server) -> None:
        settings = {
            "listen_addresses": f"'{self.host}'",
            "wal_level": "replica",
            "max_wal_senders": "5",
            "max_replication_slots": "5",
            "max_connections": "30",
            "shared_buffers": "16MB",
            "fsync": "off",
            "full_page_writes": "off",
            "hot_standby": "on",
            "hot_standby_feedback": "on",
            "wal_receiver_status_interval": "1s",
            "wal_retrieve_retry_interval": "200ms",
            "logging_collector": "off",
            "password_encryption": "'scram-sha-256'",
        }
        if self._tls is not None:
            cert, key = self._tls
            shutil.copyfile(cert, primary.datadir / "server.crt")
            shutil.copyfile(key, primary.datadir / "server.key")
            (primary.datadir / "server.key").chmod(0o600)
            self._chown(primary.datadir / "server.crt", primary.datadir / "server.key")
            settings["ssl"] = "on"
        with (primary.datadir / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        (primary.datadir / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host replication {REPLICATION_USER} {self.host}/32 trust\n"
            f"host all all {self.host}/32 scram-sha-256\n"
        )

    async def _bootstrap_roles(self) -> None:
        conn = await self.admin("primary")
        try:
            await conn.execute(f"CREATE ROLE {REPLICATION_USER} LOGIN REPLICATION")
            password = self.probe_password.replace("'", "''")
            await conn.execute(
                f"CREATE ROLE {self.probe_user} LOGIN PASSWORD '{password}' IN ROLE pg_monitor"
            )
            await conn.execute(
                f"CREATE TABLE {ROWS_TABLE} (id bigserial PRIMARY KEY, payload text NOT NULL,"
                " at timestamptz NOT NULL DEFAULT now())"
            )
        finally:
            await conn.close()

    async def _start(self, server: _Server, *, first: bool = False) -> None:
        """Start ``server`` on its port. At its first start the port is only a proposal
        (postgres cannot bind port 0): when postgres refuses it as already in use — it logs
        so and exits, a deterministic signal — it starts again on a new proposal. A restart
        keeps the port (clients and the standby's conninfo name it) and raises instead."""
        if server.running:
            return
        assert self._bindir is not None
        for attempt in range(_PORT_ATTEMPTS):
            await server.process.stop()  # a process that exited by itself
            offset = server.process.log_size()
            await server.process.spawn(
                [
                    str(self._bindir / "postgres"), "-D", str(server.datadir),
                    "-p", str(server.port), "-k", str(server.sockdir),
                ],
                user=self._os_user,
            )  # fmt: skip
            try:
                await self._poll(f"{server.role} accepting connections", lambda: self._ping(server))
                return
            except PostgresError:
                lost = _IN_USE in server.process.log_since(offset) and not server.running
                if not (lost and first) or attempt == _PORT_ATTEMPTS - 1:
                    raise
                server.port = candidate_port(self.host)

    async def _ping(self, server: _Server) -> Any:
        if not server.running:
            raise PostgresError(
                f"{server.role} exited (code {server.process.returncode});"
                f" see {server.process.log_path}"
            )
        return await self.execute("SELECT 1", role=server.role)

    async def _poll(self, what: str, attempt: Any) -> None:
        """Retry ``attempt`` (a coroutine factory returning a truthy value when ready) until
        it succeeds or ``ready_timeout`` real seconds pass."""
        last: BaseException | None = None
        with anyio.move_on_after(self._ready_timeout):
            while True:
                try:
                    if await attempt():
                        return
                except PostgresError:
                    raise
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    last = exc
                await anyio.sleep(0.05)
        raise PostgresError(f"{what}: not ready after {self._ready_timeout}s (last: {last!r})")

    async def _run(self, binary: str, *args: str) -> None:
        assert self._bindir is not None
        try:
            await anyio.run_process(
                [str(self._bindir / binary), *args],
                user=self._os_user,
                env={**os.environ, "LC_ALL": "C.UTF-8"},
            )
        except subprocess.CalledProcessError as exc:
            output = (exc.stderr or b"").decode(errors="replace").strip()
            raise PostgresError(f"{binary} failed ({exc.returncode}): {output}") from None

    def _chown(self, *paths: Path) -> None:
        if self._os_user is None:
            return
        entry = pwd.getpwnam(self._os_user)
        for path in paths:
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def __repr__(self) -> str:
        ports = [s.port for s in (self.primary, self.standby) if s is not None]
        return f"PostgresPair({self.name!r}, ports={ports})"
