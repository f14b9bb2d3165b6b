"""A write workload against the databases of a pair, as an application would run it.

:class:`WriteWorkload` issues numbered writes (``INSERT`` of ``seq`` into
:data:`~continuum_sim.pgregions.WRITES_TABLE`) one after another, each in its own
transaction, and records every acknowledgement (:class:`~continuum_sim.writecheck.Ack`:
which region committed it, on which timeline, at which WAL position). When its connection
fails it reconnects the way a libpq client with ``target_session_attrs=read-write`` does:
it tries every region's DSN (the last good one first) and keeps the first that accepts
writes. A write that fails is not retried under the same number (its outcome is unknown to
the client; the checker counts it only if the database holds it).

Asyncio only (asyncpg). Times come from ``clock`` (monotonic), the same clock the operator
stamps its transitions with. ``async with workload.running():`` runs it in the background.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import asyncpg

from continuum.ports import Clock
from continuum_sim.pginstance import TIMELINE_SQL
from continuum_sim.writecheck import WRITES_TABLE, Ack

__all__ = ["WriteWorkload"]

_INSERT = (
    f"INSERT INTO {WRITES_TABLE} (seq) VALUES ($1)"
    f" RETURNING region, {TIMELINE_SQL} AS tli, pg_current_wal_lsn()::text AS lsn"
)
# InternalClientError: asyncpg's state after the server ended the session while it was idle
_ERRORS = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    TimeoutError,
)


class WriteWorkload:
    """Numbered writes to whichever region accepts them (see the module docstring).

    ``dsns()`` is asked at every reconnect (ports can move). ``interval``: real seconds
    between writes (0: back to back); ``reconnect_interval``: between failed rounds of
    connection attempts. Not thread-safe; one instance, one running loop.
    """

    def __init__(
        self,
        dsns: Callable[[], Mapping[str, str]],
        *,
        clock: Clock,
        interval: float = 0.002,
        reconnect_interval: float = 0.01,
        statement_timeout: float = 2.0,
    ) -> None:
        self._dsns = dsns
        self._clock = clock
        self._interval = interval
        self._reconnect = reconnect_interval
        self._timeout = statement_timeout
        self._seq = itertools.count(1)
        self._preferred = ""
        self.acks: list[Ack] = []
        self.sent: list[int] = []
        self.errors: list[tuple[float, str]] = []
        self.reconnects = 0
        self._progress = anyio.Event()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[WriteWorkload]:
        """Run :meth:`run` in the background for the block; stopped (cancelled) on exit."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.run)
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()

    async def wait_acks(self, n: int, *, timeout: float = 30.0) -> None:
        """Return once ``n`` more writes have been acknowledged (real-time bound)."""
        target = len(self.acks) + n
        with anyio.fail_after(timeout):
            while len(self.acks) < target:
                await self._progress.wait()

    async def run(self) -> None:
        """Write until cancelled."""
        conn: Any = None
        region = ""
        try:
            while True:
                if conn is None:
                    conn, region = await self._connect()
                    if conn is None:
                        await anyio.sleep(self._reconnect)
                        continue
                seq = next(self._seq)
                sent = self._clock.monotonic()
                self.sent.append(seq)
                try:
                    row = await conn.fetchrow(_INSERT, seq, timeout=self._timeout)
                except _ERRORS as exc:
                    self.errors.append((sent, f"{region}: {type(exc).__name__}: {exc}"))
                    await _close(conn)
                    conn = None
                    continue
                self.acks.append(
                    Ack(
                        seq=seq,
                        region=str(row["region"]),
                        timeline=int(row["tli"]),
                        lsn=str(row["lsn"]),
                        sent=sent,
                        acked=self._clock.monotonic(),
                    )
                )
                self._progress.set()
                self._progress = anyio.Event()
                if self._interval:
                    await anyio.sleep(self._interval)
        finally:
            with anyio.CancelScope(shield=True):
                await _close(conn)

    async def _connect(self) -> tuple[Any, str]:
        dsns = dict(self._dsns())
        order = sorted(dsns, key=lambda r: r != self._preferred)
        for region in order:
            try:
                conn = await asyncpg.connect(dsns[region], timeout=1.0)
            except _ERRORS:
                continue
            try:
                if not await conn.fetchval("SELECT pg_is_in_recovery()", timeout=self._timeout):
                    self._preferred = region
                    self.reconnects += 1
                    return conn, region
            except _ERRORS:
                pass
            await _close(conn)
        return None, ""


async def _close(conn: Any) -> None:
    if conn is None:
        return
    try:
        with anyio.move_on_after(1):
            await conn.close()
    except _ERRORS:
        conn.terminate()
