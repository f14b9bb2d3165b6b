"""What a replication probe saw: the primary's walsender view and the standby's replay view.

Produced by :mod:`continuum.adapters.pgprobe`, judged by :mod:`continuum.switchover.lag`.
Every "not measured" is ``None``, never ``0``: a lag of ``0`` means the server said the
standby has caught up, ``None`` means nobody knows (crd.md ``replicationLagSeconds``):
an unknown lag reported as 0 would let a failover lose data.
LSNs are PostgreSQL's text form (``0/3000148``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

__all__ = ["ReplicationObservation", "StandbyReplayObservation", "WalSender"]

NonNegInt = Annotated[int, Meta(ge=0)]
NonNegFloat = Annotated[float, Meta(ge=0)]


class WalSender(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One row of the primary's ``pg_stat_replication``: one connected standby.

    ``application_name``/``state``/``sync_state`` are ``""`` when NULL, which is also how
    PostgreSQL masks them from a role without ``pg_read_all_stats`` (the row itself is still
    there: row existence is the presence signal). ``lag_bytes`` is
    ``pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)``; ``lag_seconds`` is ``replay_lag``,
    ``0`` when ``replay_lag`` is NULL because the standby has replayed everything, ``None``
    when it is NULL for any other reason (masked, not yet reported).
    """

    application_name: str = ""
    state: str = ""
    sync_state: str = ""
    sent_lsn: str | None = None
    write_lsn: str | None = None
    flush_lsn: str | None = None
    replay_lsn: str | None = None
    lag_bytes: NonNegInt | None = None
    lag_seconds: NonNegFloat | None = None
    write_lag_seconds: NonNegFloat | None = None
    flush_lag_seconds: NonNegFloat | None = None

    @property
    def masked(self) -> bool:
        """The probe role may not see this row's details (state hidden)."""
        return not self.state and self.replay_lsn is None


class ReplicationObservation(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The primary's view of its standbys at ``observed_at`` (UTC, from the injected clock).

    ``target`` is ``host:port`` of the server asked (never the DSN). An empty ``standbys``
    is a real answer: the primary has no standby connected right now.
    """

    target: str
    current_wal_lsn: str
    standbys: list[WalSender] = msgspec.field(default_factory=list)
    observed_at: datetime


class StandbyReplayObservation(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A standby's own view of how far it has replayed, at ``observed_at``.

    ``in_recovery`` is ``pg_is_in_recovery()`` (False: the server is a primary and the other
    fields are ``None``). ``lag_bytes`` is received-but-not-replayed WAL
    (``pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())``).
    ``lag_seconds`` is ``0`` when everything received has been replayed, else
    ``now() - pg_last_xact_replay_timestamp()`` on the standby's clock; ``None`` when it
    cannot be told (nothing replayed yet).
    """

    target: str
    in_recovery: bool
    receive_lsn: str | None = None
    replay_lsn: str | None = None
    replay_paused: bool = False
    last_replay_at: datetime | None = None
    lag_bytes: NonNegInt | None = None
    lag_seconds: NonNegFloat | None = None
    observed_at: datetime
