"""What of the live status is written: transitions, not renewals or steady measurements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from continuum.actors.continuum.quiet import LAG_REFRESH_SECONDS, durable_status
from continuum.messages.status import ContinuumStatus, ReplicationLag

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _status(
    holder: str = "a", *, at: float = 0.0, gen: int = 1, **fields: object
) -> ContinuumStatus:
    return ContinuumStatus(
        phase="Healthy",
        lease_holder=holder,
        lease_expires_at=T0 + timedelta(seconds=30 + at),
        lease_generation=gen,
        **fields,  # type: ignore[arg-type]
    )


def _lag(seconds: float, at: float) -> dict[str, ReplicationLag]:
    return {"b": ReplicationLag(seconds=seconds, observed_at=T0 + timedelta(seconds=at))}


def test_a_renewal_alone_writes_nothing() -> None:
    written = _status()
    live = _status(at=10, gen=2)
    assert durable_status(live, written=written, now=T0, max_lag_seconds=None) == written


def test_a_change_of_holder_writes_the_live_lease_fields() -> None:
    written = _status()
    live = _status("b", at=50, gen=7)
    assert durable_status(live, written=written, now=T0, max_lag_seconds=None) == live


def test_the_first_lease_is_written_and_other_transitions_pass_through() -> None:
    empty = ContinuumStatus()
    live = _status()
    assert durable_status(live, written=empty, now=T0, max_lag_seconds=None) == live
    degraded = msgspec.structs.replace(_status(at=10, gen=2), phase="Degraded")
    out = durable_status(degraded, written=live, now=T0, max_lag_seconds=None)
    assert out.phase == "Degraded"
    assert out.lease_generation == 1  # the renewal-driven fields stay as written


def test_a_steady_lag_is_rewritten_only_once_it_is_refresh_seconds_old() -> None:
    written = _status(replication_lag=_lag(0.5, 0), max_replication_lag="0.5s")
    fresh = _status(replication_lag=_lag(0.7, 60), max_replication_lag="0.7s")
    at_60 = T0 + timedelta(seconds=60)
    assert durable_status(fresh, written=written, now=at_60, max_lag_seconds=30) == written
    later = T0 + timedelta(seconds=LAG_REFRESH_SECONDS)
    aged = _status(replication_lag=_lag(0.7, LAG_REFRESH_SECONDS), max_replication_lag="0.7s")
    assert durable_status(aged, written=written, now=later, max_lag_seconds=30) == aged


def test_a_lag_crossing_max_lag_seconds_or_a_new_region_is_written_at_once() -> None:
    written = _status(replication_lag=_lag(0.5, 0), max_replication_lag="0.5s")
    breach = _status(replication_lag=_lag(45, 10), max_replication_lag="45s")
    at_10 = T0 + timedelta(seconds=10)
    assert durable_status(breach, written=written, now=at_10, max_lag_seconds=30) == breach
    gone = _status()
    assert durable_status(gone, written=written, now=at_10, max_lag_seconds=30) == gone
