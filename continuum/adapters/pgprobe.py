"""SQL probe of streaming replication (asyncpg; asyncio only).

:class:`PgReplicationProbe` asks a primary for its ``pg_stat_replication`` rows and
``pg_current_wal_lsn()``, or a standby for ``pg_is_in_recovery()``,
``pg_last_wal_replay_lsn()`` and ``pg_last_xact_replay_timestamp()``. Every call opens one
connection, runs one read-only query and closes it, all within ``timeout`` seconds of real
time (a network deadline: the caller bounds the whole observation on its own clock as well).

Any failure — bad DSN, refused or timed-out connection, TLS, authentication, query — raises
:class:`ProbeUnavailable`, which means "no determination": never "no standby". Its message
names ``host:port`` and the cause, never the DSN or the password.

TLS: with a :class:`PgTls` the server certificate is verified against the given CA
(libpq ``sslmode=verify-ca``; ``verify_hostname=True`` for ``verify-full``) and the client
certificate, if any, is presented. Without one, the DSN's own ``sslmode`` applies
(``sslrootcert`` is honoured for ``verify-ca``/``verify-full``).
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import anyio

from continuum.adapters.pgdsn import Dsn, parse_dsn, redact_text
from continuum.errors import ContinuumError
from continuum.messages.replication import (
    ReplicationObservation,
    StandbyReplayObservation,
    WalSender,
)
from continuum.ports import Clock

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "PgReplicationProbe", "PgTls", "ProbeUnavailable"]

DEFAULT_TIMEOUT_SECONDS = 5.0
"""Connect + query deadline of one probe (integrations.md §5)."""

PROBE_APPLICATION_NAME = "continuum-probe"

_PRIMARY_QUERY = """
WITH cur AS (SELECT pg_current_wal_lsn() AS lsn)
SELECT cur.lsn::text AS current_lsn,
       r.pid,
       r.application_name,
       r.state,
       r.sync_state,
       r.sent_lsn::text AS sent_lsn,
       r.write_lsn::text AS write_lsn,
       r.flush_lsn::text AS flush_lsn,
       r.replay_lsn::text AS replay_lsn,
       pg_wal_lsn_diff(cur.lsn, r.replay_lsn) AS lag_bytes,
       r.write_lag,
       r.flush_lag,
       r.replay_lag
FROM cur LEFT JOIN pg_stat_replication r ON true
ORDER BY r.application_name NULLS LAST, r.pid
"""

_STANDBY_QUERY = """
SELECT pg_is_in_recovery() AS in_recovery,
       CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()::text END AS receive_lsn,
       CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text END AS replay_lsn,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS paused,
       CASE WHEN pg_is_in_recovery() THEN pg_last_xact_replay_timestamp() END AS replay_at,
       CASE WHEN pg_is_in_recovery()
            THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
       END AS lag_bytes,
       CASE WHEN pg_is_in_recovery()
            THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())
       END AS replay_age
"""


class ProbeUnavailable(ContinuumError):
    """The probe could not determine the replication state of ``target`` (``host:port``).

    Means "no determination" — never "zero standbys". The message never contains the DSN's
    password.
    """

    def __init__(self, target: str, reason: str) -> None:
        self.target = target
        self.reason = reason
        super().__init__(f"replication probe of {target} failed: {reason}")


@dataclass(frozen=True, kw_only=True, repr=False)
class PgTls:
    """TLS material for the probe, usually from Secrets (never logged, never in ``repr``).

    ``ca_pem``: the CA that signed the server certificate (CNPG's ``<cluster>-ca``); the
    server certificate must chain to it. ``cert_pem``/``key_pem``: optional client
    certificate (CNPG's ``<cluster>-replication`` ``tls.crt``/``tls.key``).
    ``verify_hostname``: also require the certificate to name the host (``verify-full``).
    """

    ca_pem: str
    cert_pem: str | None = None
    key_pem: str | None = None
    verify_hostname: bool = False

    def __repr__(self) -> str:
        client = "with client cert" if self.cert_pem else "no client cert"
        mode = "verify-full" if self.verify_hostname else "verify-ca"
        return f"PgTls({mode}, {client})"

    def context(self) -> ssl.SSLContext:
        """An SSL context that verifies the server against ``ca_pem``. Raises
        ``ssl.SSLError``/``ValueError`` on unusable material."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = self.verify_hostname
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=self.ca_pem)
        if self.cert_pem:
            with _private_files(self.cert_pem, self.key_pem or "") as (cert, key):
                ctx.load_cert_chain(cert, key or None)
        return ctx


@contextlib.contextmanager
def _private_files(cert_pem: str, key_pem: str) -> Iterator[tuple[str, str]]:
    """``ssl`` loads client certificates only from files: write them 0600, delete after."""
    with tempfile.TemporaryDirectory(prefix="continuum-tls-") as tmp:
        paths = []
        for name, text in (("tls.crt", cert_pem), ("tls.key", key_pem)):
            path = os.path.join(tmp, name)
            if text:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(text)
            paths.append(path if text else "")
        yield paths[0], paths[1]


class PgReplicationProbe:
    """Probes one PostgreSQL server given by a libpq DSN (URI or ``key=value`` form).

    The DSN is parsed once (a malformed one raises :class:`ProbeUnavailable` from the
    constructor) and kept private: ``repr`` and every message show ``host:port`` only.
    ``clock`` stamps ``observed_at``; ``timeout`` bounds each call in real seconds.
    """

    def __init__(
        self,
        dsn: str,
        *,
        clock: Clock,
        tls: PgTls | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        try:
            self._dsn: Dsn = parse_dsn(dsn)
        except ValueError as exc:
            raise ProbeUnavailable("?", f"invalid DSN ({exc})") from None
        self._clock = clock
        self._tls = tls
        self._timeout = timeout

    @property
    def target(self) -> str:
        """``host:port`` of the probed server."""
        return self._dsn.target

    def __repr__(self) -> str:
        return f"PgReplicationProbe({self.target}, tls={self._tls!r})"

    async def observe_primary(self) -> ReplicationObservation:
        """The primary's ``pg_stat_replication`` rows (one :class:`WalSender` per connected
        standby, possibly none) and its current WAL position.

        Raises :class:`ProbeUnavailable` on any failure, including a server that is in
        recovery (a standby cannot answer ``pg_current_wal_lsn()``).
        """
        rows = await self._fetch(_PRIMARY_QUERY)
        current = str(rows[0]["current_lsn"]) if rows else ""
        standbys = [_wal_sender(row) for row in rows if row["pid"] is not None]
        return ReplicationObservation(
            target=self.target,
            current_wal_lsn=current,
            standbys=standbys,
            observed_at=self._clock.now(),
        )

    async def observe_standby(self) -> StandbyReplayObservation:
        """The server's own replay position and lag (see
        :class:`~continuum.messages.replication.StandbyReplayObservation`). A server that is
        not in recovery answers ``in_recovery=False``; that is not an error.
        Raises :class:`ProbeUnavailable` on any failure."""
        rows = await self._fetch(_STANDBY_QUERY)
        row = rows[0]
        in_recovery = bool(row["in_recovery"])
        lag_bytes = _non_negative_int(row["lag_bytes"])
        lag_seconds: float | None = None
        if lag_bytes == 0 and row["replay_lsn"] is not None:
            lag_seconds = 0.0
        elif row["replay_age"] is not None:
            lag_seconds = max(0.0, float(row["replay_age"]))
        return StandbyReplayObservation(
            target=self.target,
            in_recovery=in_recovery,
            receive_lsn=row["receive_lsn"],
            replay_lsn=row["replay_lsn"],
            replay_paused=bool(row["paused"]),
            last_replay_at=row["replay_at"],
            lag_bytes=lag_bytes,
            lag_seconds=lag_seconds,
            observed_at=self._clock.now(),
        )

    async def _fetch(self, query: str) -> list[Any]:
        import asyncpg  # imported at the first probe: most controllers never probe SQL

        dsn = self._dsn
        try:
            ssl_arg = self._ssl_argument()
            with anyio.fail_after(self._timeout):
                conn = await asyncpg.connect(
                    host=dsn.host,
                    port=dsn.port,
                    user=dsn.user,
                    password=dsn.password,
                    database=dsn.database,
                    ssl=ssl_arg,
                    timeout=self._timeout,
                    command_timeout=self._timeout,
                    server_settings={"application_name": PROBE_APPLICATION_NAME},
                )
                try:
                    rows: list[Any] = await conn.fetch(query)
                finally:
                    with anyio.CancelScope(shield=True):
                        try:
                            await conn.close(timeout=1.0)
                        except Exception:
                            conn.terminate()  # close timed out or failed: drop the socket
        except asyncpg.ObjectNotInPrerequisiteStateError:
            raise ProbeUnavailable(
                self.target, "the server is in recovery (a standby, not a primary)"
            ) from None
        except TimeoutError:
            raise ProbeUnavailable(self.target, f"no answer within {self._timeout:g}s") from None
        except Exception as exc:
            raise ProbeUnavailable(self.target, self._describe(exc)) from None
        return rows

    def _ssl_argument(self) -> ssl.SSLContext | str | None:
        if self._tls is not None:
            return self._tls.context()
        mode = self._dsn.sslmode
        if mode in ("verify-ca", "verify-full"):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = mode == "verify-full"
            ctx.verify_mode = ssl.CERT_REQUIRED
            if self._dsn.sslrootcert:
                ctx.load_verify_locations(cafile=self._dsn.sslrootcert)
            else:
                ctx.load_default_certs()
            return ctx
        return mode

    def _describe(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return redact_text(text, self._dsn.password)


def _seconds(value: object) -> float | None:
    if isinstance(value, timedelta):
        return max(0.0, value.total_seconds())
    return None


def _non_negative_int(value: object) -> int | None:
    if isinstance(value, Decimal | int | float):
        return max(0, int(value))
    return None


def _wal_sender(row: Any) -> WalSender:
    lag_bytes = _non_negative_int(row["lag_bytes"])
    lag_seconds = _seconds(row["replay_lag"])
    if lag_seconds is None and lag_bytes == 0:
        # replay_lag is NULL once an idle standby has replayed everything: caught up.
        lag_seconds = 0.0
    return WalSender(
        application_name=row["application_name"] or "",
        state=row["state"] or "",
        sync_state=row["sync_state"] or "",
        sent_lsn=row["sent_lsn"],
        write_lsn=row["write_lsn"],
        flush_lsn=row["flush_lsn"],
        replay_lsn=row["replay_lsn"],
        lag_bytes=lag_bytes,
        lag_seconds=lag_seconds,
        write_lag_seconds=_seconds(row["write_lag"]),
        flush_lag_seconds=_seconds(row["flush_lag"]),
    )
