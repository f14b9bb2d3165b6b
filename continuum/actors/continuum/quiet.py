"""Which part of a Continuum's live status is worth a write to the Kubernetes API.

The actor keeps its status live in memory (the lease as last renewed, the lag as last
measured); the API, the CLI and the metrics serve that. What is written to the CR is the
*durable* status: the live one, except for the fields that move while nothing happens —

- ``leaseExpiresAt`` and ``leaseGeneration`` move on every renewal: they are written with a
  change of ``leaseHolder`` (acquired, lost, handed over, released) and kept as written
  otherwise, so a quiet renewal writes nothing.
- ``replicationLag`` (and ``maxReplicationLag``) move on every measurement: they are written
  when the set of measured regions changes, when a lag crosses ``maxLagSeconds`` in either
  direction, or once the written measurement is ``refresh_seconds`` old.

Everything else (phase, conditions, journal, health, drift, acting primary) changes only on a
transition and is written as it is. A CR at rest thus costs at most one write per
``refresh_seconds`` (none at all without a replication probe).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import msgspec

from continuum.messages.status import ContinuumStatus, ReplicationLag, max_replication_lag

__all__ = ["LAG_REFRESH_SECONDS", "durable_status"]

#: How old the written replication lag may grow before a steady lag is written again.
LAG_REFRESH_SECONDS = 300.0


def durable_status(
    live: ContinuumStatus,
    *,
    written: ContinuumStatus,
    now: datetime,
    max_lag_seconds: float | None,
    refresh_seconds: float = LAG_REFRESH_SECONDS,
) -> ContinuumStatus:
    """The status to write, given the ``live`` status and the one last ``written``.

    Equal to ``written`` when only renewal- or measurement-driven fields moved (so the caller
    writes nothing); never invents a value the live status does not hold. Pure."""
    fields: dict[str, object] = {}
    if live.lease_holder == written.lease_holder and written.lease_expires_at is not None:
        fields["lease_expires_at"] = written.lease_expires_at
        fields["lease_generation"] = written.lease_generation
    if not _lag_due(
        live.replication_lag,
        written.replication_lag,
        now=now,
        max_lag_seconds=max_lag_seconds,
        refresh_seconds=refresh_seconds,
    ):
        fields["replication_lag"] = written.replication_lag
        fields["max_replication_lag"] = max_replication_lag(written.replication_lag)
    return msgspec.structs.replace(live, **fields) if fields else live


def _lag_due(
    live: Mapping[str, ReplicationLag],
    written: Mapping[str, ReplicationLag],
    *,
    now: datetime,
    max_lag_seconds: float | None,
    refresh_seconds: float,
) -> bool:
    if live == written:
        return False
    if live.keys() != written.keys():
        return True
    for region, lag in live.items():
        old = written[region]
        if max_lag_seconds is not None and (lag.seconds > max_lag_seconds) != (
            old.seconds > max_lag_seconds
        ):
            return True
        if lag.bytes != old.bytes and (lag.bytes is None or old.bytes is None):
            return True
        if (now - old.observed_at).total_seconds() >= refresh_seconds:
            return True
    return False
