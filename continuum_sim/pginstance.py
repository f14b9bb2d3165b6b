"""One real PostgreSQL server over its own data directory, driven the way CloudNativePG drives
an instance: clean shutdown, restart as a standby of another instance, promotion, rewind.

The emulated CNPG operator (:mod:`continuum_sim.cnpg_real`) uses one :class:`PgInstance` per
region. Asyncio only (SQL goes through asyncpg).

Ports. ``postgres`` cannot listen on port 0, so the launcher chooses a port, starts the
server and, when the server's log for *this* start says the address is in use, chooses
another and starts again (at most ``bind_attempts`` times). The bind failure is read from
the server's own log, so a port taken between choosing and binding is detected
deterministically instead of hoping it stays free. A restart tries the previous port first,
so DSNs stay stable unless something else took it. A port given explicitly (``port=``) is
never replaced: taking it is an error naming the port. The admin path (the launcher's own
SQL, replication, ``pg_basebackup``, ``pg_rewind``) uses the instance's private unix-socket
directory, where no other process can collide.

Errors are :class:`~continuum_sim.postgres.PostgresError` with one line naming the cause:
missing binaries, port in use, no space left on the device, or the server's own ``FATAL``/
``PANIC`` line. Never hangs: every wait is bounded by ``ready_timeout`` real seconds.

Running as root, the servers run as the ``postgres`` OS user. Processes are stopped by their
own PID; :meth:`close` removes the data directory.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import asyncpg

from continuum_sim.postgres import PostgresError, find_bindir
from continuum_sim.process import ManagedProcess, candidate_port

__all__ = ["Checkpoint", "InstanceState", "PgInstance", "Rewind", "lsn_int", "lsn_text"]

REPLICATION_USER = "replicator"
_BIND_FAILED = re.compile(r"could not bind .*(Address already in use|Address in use)", re.I)
_SHMEM_BUSY = re.compile(r"pre-existing shared memory block .* is still in use", re.I)
_NO_SPACE = re.compile(r"No space left on device", re.I)
_FATAL = re.compile(r"^.*\b(FATAL|PANIC):\s*(.*)$", re.M)
# The timeline of the WAL being written, from the name of its segment file (primary only).
TIMELINE_SQL = "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int"


def lsn_int(text: str) -> int:
    """``'0/3000060'`` → an integer that orders like the LSN."""
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def lsn_text(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """What ``pg_controldata`` says of a stopped instance's latest checkpoint."""

    timeline: int
    lsn: str
    clean: bool  # "shut down" (not "in production"/"in crash recovery")
    primary: bool  # it last ran as a primary ("shut down", "in production")


@dataclass(frozen=True, kw_only=True)
class InstanceState:
    """An instance as it answers now. ``lsn``: the current WAL position on a primary, the
    replayed position on a standby; ``""`` when it does not answer."""

    running: bool
    ready: bool
    in_recovery: bool
    timeline: int
    lsn: str


@dataclass(frozen=True, kw_only=True)
class Rewind:
    """A ``pg_rewind`` that ran: where the instance's history left its source's."""

    instance: str
    source: str
    diverged_at: str  # "" when pg_rewind found nothing to rewind
    timeline: int


class PgInstance:
    """One server over ``root/<name>`` (see the module docstring).

    ``region`` is stored as the custom setting ``continuum.region`` so every write can say
    which instance accepted it. Not safe for concurrent use by several tasks.
    """

    def __init__(
        self,
        *,
        name: str,
        root: Path,
        logdir: Path,
        region: str = "",
        host: str = "127.0.0.1",
        port: int | None = None,
        bindir: Path | None = None,
        ready_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        bind_attempts: int = 5,
    ) -> None:
        self.name = name
        self.region = region or name
        self.host = host
        self.datadir = root / name
        self.sockdir = root / f"{name}.sock"
        self._fixed_port = port is not None
        self.port = port if port is not None else candidate_port(host)
        self._bindir = bindir
        self._ready_timeout = ready_timeout
        self._bind_attempts = bind_attempts
        self._as_root = os.geteuid() == 0
        self._os_user = "postgres" if self._as_root else None
        self.process = ManagedProcess(
            name=f"postgres {name}",
            log_path=logdir / f"{name}.log",
            error=PostgresError,
            stop_signal=signal.SIGINT,
            stop_timeout=stop_timeout,
        )

    # --- addresses ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.process.running

    def dsn(self, *, user: str = "postgres", database: str = "postgres") -> str:
        """A TCP URI DSN (``trust`` on loopback for the launcher's users)."""
        return f"postgresql://{user}@{self.host}:{self.port}/{database}?sslmode=disable"

    def conninfo(self) -> str:
        """libpq conninfo of this instance for replication (unix socket)."""
        return f"host={self.sockdir} port={self.port} user={REPLICATION_USER}"

    async def connect(self) -> Any:
        """A superuser asyncpg connection over the unix socket (caller closes it)."""
        return await asyncpg.connect(
            host=str(self.sockdir), port=self.port, user="postgres", database="postgres"
        )

    async def fetchval(self, sql: str, *args: object) -> Any:
        conn = await self.connect()
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    # --- creating -------------------------------------------------------------------------

    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = find_bindir()
        if not (self._bindir / "postgres").exists():
            raise PostgresError(f"no PostgreSQL server binaries in {self._bindir}")
        return self._bindir

    async def init_primary(self) -> None:
        """``initdb`` a new cluster, configure it, start it and create the replication role.
        Raises :class:`PostgresError`."""
        self._prepare_dirs()
        await self._run(
            "initdb", "-D", str(self.datadir), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip
        self._configure()
        await self.start()
        conn = await self.connect()
        try:
            await conn.execute(f"CREATE ROLE {REPLICATION_USER} LOGIN REPLICATION")
        finally:
            await conn.close()

    async def clone_from(self, source: PgInstance) -> None:
        """``pg_basebackup`` of running ``source``, then start as its streaming standby."""
        self._prepare_dirs()
        await self._run(
            "pg_basebackup", "-D", str(self.datadir), "-h", str(source.sockdir),
            "-p", str(source.port), "-U", REPLICATION_USER, "-X", "stream", "--no-sync",
            "-c", "fast",
        )  # fmt: skip
        self._configure()
        self.set_upstream(source)
        await self.start()

    def _prepare_dirs(self) -> None:
        self.sockdir.mkdir(parents=True, exist_ok=True)
        self._chown(self.sockdir)
        if self.datadir.exists():
            raise PostgresError(f"postgres {self.name}: {self.datadir} already exists")

    def _configure(self) -> None:
        settings = {
            "listen_addresses": f"'{self.host}'",
            "unix_socket_directories": f"'{self.sockdir}'",
            "wal_level": "replica",
            "wal_log_hints": "on",  # pg_rewind needs it
            "full_page_writes": "on",  # pg_rewind needs it
            "max_wal_senders": "5",
            "max_connections": "40",
            "shared_buffers": "16MB",
            "fsync": "off",
            "synchronous_commit": "on",
            "hot_standby": "on",
            "wal_receiver_status_interval": "1s",
            "wal_retrieve_retry_interval": "100ms",
            "wal_keep_size": "256MB",
            "logging_collector": "off",
            "continuum.region": f"'{self.region}'",
            "include_if_exists": "'continuum_upstream.conf'",
        }
        # written whole each time: pg_basebackup and pg_rewind copy the source's files
        (self.datadir / "postgresql.conf").write_text(
            "".join(f"{key} = {value}\n" for key, value in settings.items())
        )
        (self.datadir / "postgresql.auto.conf").write_text("")
        (self.datadir / "pg_hba.conf").write_text(
            "local all all trust\n"
            "local replication all trust\n"
            f"host all all {self.host}/32 trust\n"
            f"host replication {REPLICATION_USER} {self.host}/32 trust\n"
        )

    # --- roles ----------------------------------------------------------------------------

    def set_upstream(self, source: PgInstance | None) -> None:
        """Make the next start a standby streaming from ``source`` (``None``: a primary).
        Takes effect at the next :meth:`start`."""
        signal_file = self.datadir / "standby.signal"
        upstream = self.datadir / "continuum_upstream.conf"
        if source is None:
            signal_file.unlink(missing_ok=True)
            upstream.write_text("")
        else:
            signal_file.write_text("")
            upstream.write_text(
                f"primary_conninfo = '{source.conninfo()} application_name={self.name}'\n"
                "recovery_target_timeline = 'latest'\n"
            )
        self._chown(*(f for f in (signal_file, upstream) if f.exists()))

    async def promote(self) -> int:
        """``pg_promote`` (waits for it) and return the new timeline."""
        done = await self.fetchval("SELECT pg_promote(true, $1)", int(self._ready_timeout))
        if not done:
            raise PostgresError(f"postgres {self.name}: pg_promote did not finish")
        (self.datadir / "continuum_upstream.conf").write_text("")  # the server removed the signal
        return int(await self.fetchval(f"SELECT {TIMELINE_SQL}"))

    async def rewind(self, source: PgInstance) -> Rewind:
        """``pg_rewind`` this stopped instance onto running ``source``'s history. Runs crash
        recovery first when it was not shut down cleanly (pg_rewind's own default)."""
        # pg_rewind reads the source's timeline from its control file, which a freshly
        # promoted server updates only at its first checkpoint: without it pg_rewind can see
        # "the same timeline" and rewind nothing (its documentation asks for this CHECKPOINT)
        await source.fetchval("CHECKPOINT")
        out = await self._run(
            "pg_rewind", "-D", str(self.datadir),
            "--source-server", f"host={source.sockdir} port={source.port} user=postgres",
        )  # fmt: skip
        found = re.search(r"diverged at WAL location (\S+) on timeline (\d+)", out)
        rewind = Rewind(
            instance=self.name,
            source=source.name,
            diverged_at="" if "no rewind required" in out or found is None else found.group(1),
            timeline=int(found.group(2)) if found else 0,
        )
        self._configure()
        return rewind

    async def checkpoint(self) -> Checkpoint:
        """The latest checkpoint of this (stopped) instance, from ``pg_controldata``."""
        out = await self._run("pg_controldata", "-D", str(self.datadir))
        fields = dict(
            (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in out.splitlines())
        )
        state = fields.get("Database cluster state", "")
        return Checkpoint(
            timeline=int(fields["Latest checkpoint's TimeLineID"]),
            lsn=fields["Latest checkpoint location"],
            clean=state in ("shut down", "shut down in recovery"),
            primary=state in ("shut down", "in production"),
        )

    async def state(self) -> InstanceState:
        """What the instance answers now (never raises for a server that is down)."""
        if not self.running:
            return InstanceState(running=False, ready=False, in_recovery=False, timeline=0, lsn="")
        try:
            conn = await self.connect()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return InstanceState(running=True, ready=False, in_recovery=False, timeline=0, lsn="")
        try:
            recovering = bool(await conn.fetchval("SELECT pg_is_in_recovery()"))
            if recovering:
                row = await conn.fetchrow(
                    "SELECT pg_last_wal_replay_lsn()::text AS lsn,"
                    " (SELECT timeline_id FROM pg_control_checkpoint()) AS cp,"
                    " (SELECT received_tli FROM pg_stat_wal_receiver) AS rx"
                )
                timeline = int(row["rx"] or row["cp"] or 0)
                lsn = str(row["lsn"] or "")
            else:
                row = await conn.fetchrow(
                    f"SELECT pg_current_wal_lsn()::text AS lsn, {TIMELINE_SQL} AS tli"
                )
                timeline, lsn = int(row["tli"]), str(row["lsn"])
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return InstanceState(running=True, ready=False, in_recovery=False, timeline=0, lsn="")
        finally:
            await conn.close()
        return InstanceState(
            running=True, ready=True, in_recovery=recovering, timeline=timeline, lsn=lsn
        )

    # --- processes ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the server and return once it accepts connections. A bind failure on a port
        this launcher chose moves to another port (see the module docstring). Raises
        :class:`PostgresError` with one line naming the cause."""
        if self.running:
            return
        binds = 0
        with anyio.move_on_after(self._ready_timeout * 2):
            while True:
                await self.process.stop()
                offset = self.process.log_size()
                await self.process.spawn(
                    [str(self.bindir / "postgres"), "-D", str(self.datadir), "-p", str(self.port)],
                    user=self._os_user,
                )
                try:
                    await self.process.wait_ready(
                        self._accepts, timeout=self._ready_timeout, interval=0.03
                    )
                    return
                except PostgresError:
                    await self.process.stop()
                    fresh = self.process.log_since(offset).decode(errors="replace")
                if _SHMEM_BUSY.search(fresh):
                    # the children of a killed postmaster have not noticed yet
                    await anyio.sleep(0.1)
                    continue
                binds += 1
                retry = not self._fixed_port and binds < self._bind_attempts
                if retry and _BIND_FAILED.search(fresh):
                    self.port = candidate_port(self.host)
                    continue
                raise PostgresError(self._cause(fresh))
        raise PostgresError(f"postgres {self.name} did not start within {self._ready_timeout * 2}s")

    async def stop(self) -> Checkpoint:
        """Fast shutdown (clean: a shutdown checkpoint is written and streamed to standbys);
        returns that checkpoint."""
        await self.process.stop()
        return await self.checkpoint()

    async def kill(self) -> None:
        """SIGKILL the postmaster (a crash: no shutdown checkpoint). Its children exit once
        they notice; :meth:`start` waits for them."""
        await self.process.kill()

    async def close(self) -> None:
        """Stop (fast) and remove the data directory; idempotent."""
        await self.process.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)
        shutil.rmtree(self.sockdir, ignore_errors=True)

    # --- internals ------------------------------------------------------------------------

    async def _accepts(self) -> bool:
        try:
            await self.fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False
        return True

    def _cause(self, log: str) -> str:
        where = f"postgres {self.name}"
        if _BIND_FAILED.search(log):
            return f"{where}: port {self.host}:{self.port} is already in use"
        if _NO_SPACE.search(log):
            return f"{where}: no space left on the device of {self.datadir}"
        fatal = _FATAL.findall(log)
        if fatal:
            return f"{where} did not start: {fatal[-1][1].strip()} (log {self.process.log_path})"
        return f"{where} did not start (log {self.process.log_path})"

    async def _run(self, binary: str, *args: str) -> str:
        path = self.bindir / binary
        if not path.exists():
            raise PostgresError(f"no {binary} in {self.bindir}")
        result = await anyio.run_process(
            [str(path), *args],
            user=self._os_user,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
            check=False,
        )
        out = (result.stdout + result.stderr).decode(errors="replace")
        if result.returncode != 0:
            if _NO_SPACE.search(out):
                raise PostgresError(f"{binary} {self.name}: no space left on the device")
            lines = [ln for ln in out.strip().splitlines() if ln.strip()]
            last = next((ln for ln in lines if "error:" in ln), lines[-1] if lines else "")
            raise PostgresError(f"{binary} {self.name} failed ({result.returncode}): {last}")
        return out

    def _chown(self, *paths: Path) -> None:
        if self._os_user is None:
            return
        entry = pwd.getpwnam(self._os_user)
        for path in paths:
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def __repr__(self) -> str:
        return f"PgInstance({self.name!r}, port={self.port}, running={self.running})"
