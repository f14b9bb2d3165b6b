"""Pure rules: standby posture, lag breach streaks, and the standby grace window."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from continuum.clock import FakeClock
from continuum.messages.crd import decode_spec
from continuum.messages.replication import ReplicationObservation, WalSender
from continuum.switchover.lag import (
    LagBreachTracker,
    StandbyGrace,
    StandbySignal,
    derive_posture,
    lag_threshold_seconds,
    signal_from_posture,
)

AT = datetime(2026, 1, 1, tzinfo=UTC)


def observe(*rows: WalSender) -> ReplicationObservation:
    return ReplicationObservation(
        target="db:5432", current_wal_lsn="0/3000000", standbys=list(rows), observed_at=AT
    )


def row(name: str = "demo-replica", **kw: Any) -> WalSender:
    defaults: dict[str, Any] = {
        "state": "streaming",
        "sync_state": "async",
        "replay_lsn": "0/3000000",
        "lag_bytes": 0,
        "lag_seconds": 0.0,
    }
    return WalSender(application_name=name, **(defaults | kw))


MASKED = WalSender()


def spec(**extra: Any) -> Any:
    return decode_spec(
        {
            "applicationRef": "shop",
            "primaryRegion": "region-a",
            "hotStandbyRegions": ["region-b"],
            "leaseClient": {"kind": "k8s-lease"},
            "cnpgPair": {"name": "shop-pg"},
            **extra,
        }
    )


# --- posture ---------------------------------------------------------------------------------


def test_no_rows_means_no_standby_and_unmeasured_lag() -> None:
    posture = derive_posture(observe(), "demo-replica")
    assert not posture.standby_present
    assert not posture.streaming
    assert posture.app_name == ""
    assert posture.max_lag_seconds is None
    assert posture.max_lag_bytes is None
    assert signal_from_posture(posture) == (StandbySignal.UNAVAILABLE, "")


def test_expected_application_name_wins_over_the_first_row() -> None:
    posture = derive_posture(observe(row("other"), row("demo-replica")), "demo-replica")
    assert posture.app_name == "demo-replica"
    assert posture.expected_present


def test_first_row_name_is_used_when_the_expected_name_is_absent() -> None:
    posture = derive_posture(observe(row("b-replica"), row("c-replica")), "demo-replica")
    assert posture.app_name == "b-replica"
    assert not posture.expected_present
    assert signal_from_posture(posture) == (StandbySignal.AVAILABLE, "b-replica")


def test_masked_rows_count_as_present_but_neither_streaming_nor_measured() -> None:
    posture = derive_posture(observe(MASKED), "demo-replica")
    assert posture.standby_present
    assert posture.masked_count == 1
    assert not posture.streaming
    assert posture.app_name == ""
    assert posture.max_lag_seconds is None


def test_sync_and_quorum_standbys_are_counted_separately() -> None:
    posture = derive_posture(
        observe(row("a", sync_state="sync"), row("b", sync_state="quorum"), row("c")), "a"
    )
    assert (posture.sync_count, posture.quorum_count) == (1, 1)
    assert posture.sync_standby_present
    assert posture.streaming_count == 3


def test_max_lag_is_over_measured_rows_only() -> None:
    posture = derive_posture(
        observe(row("a", lag_seconds=2.5, lag_bytes=10), row("b", lag_seconds=None), MASKED),
        "a",
    )
    assert posture.max_lag_seconds == 2.5
    assert posture.max_lag_bytes == 10


def test_a_probe_error_is_no_determination() -> None:
    assert signal_from_posture(None) == (StandbySignal.UNKNOWN, "")


walsenders = st.builds(
    WalSender,
    application_name=st.sampled_from(["", "demo-replica", "x", "y"]),
    state=st.sampled_from(["", "streaming", "catchup", "startup"]),
    sync_state=st.sampled_from(["", "async", "sync", "quorum", "potential"]),
    lag_bytes=st.none() | st.integers(0, 10**9),
    lag_seconds=st.none() | st.floats(0, 1e6, allow_nan=False),
)


@given(st.lists(walsenders, max_size=6))
def test_posture_invariants_hold_for_any_rows(rows: list[WalSender]) -> None:
    posture = derive_posture(observe(*rows), "demo-replica")
    assert posture.standby_present == bool(rows)
    assert posture.standby_count == len(rows)
    assert posture.streaming_count + posture.masked_count <= len(rows)
    assert posture.sync_count + posture.quorum_count <= len(rows)
    measured = [r.lag_seconds for r in rows if r.lag_seconds is not None]
    if measured:
        assert posture.max_lag_seconds == max(measured)
    else:
        assert posture.max_lag_seconds is None
    if rows:
        assert posture.app_name in {r.application_name for r in rows}
    assert posture.expected_present == any(r.application_name == "demo-replica" for r in rows)


# --- lag breach ------------------------------------------------------------------------------


def test_threshold_is_max_lag_seconds_then_rpo_then_none_never_rto() -> None:
    assert lag_threshold_seconds(spec(maxLagSeconds=7, rpo="1m", rto="5s")) == 7.0
    assert lag_threshold_seconds(spec(rpo="1m", rto="5s")) == 60.0
    assert lag_threshold_seconds(spec(rto="5s")) is None


def test_tracker_from_spec_uses_the_observation_count_as_n() -> None:
    tracker = LagBreachTracker.from_spec(spec(maxLagSeconds=5, autoFailoverObservations=4))
    assert (tracker.threshold_seconds, tracker.required) == (5.0, 4)


def test_n_minus_one_breaches_then_recovery_is_no_breach() -> None:
    tracker = LagBreachTracker(threshold_seconds=5, required=3)
    assert not tracker.observe(9).breached
    assert not tracker.observe(9).breached
    verdict = tracker.observe(1)
    assert not verdict.breached
    assert verdict.streak == 0
    assert not tracker.observe(9).breached


def test_n_consecutive_breaches_is_a_breach() -> None:
    tracker = LagBreachTracker(threshold_seconds=5, required=3)
    verdicts = [tracker.observe(6) for _ in range(3)]
    assert [v.breached for v in verdicts] == [False, False, True]
    assert verdicts[-1].streak == 3


def test_a_lag_equal_to_the_threshold_is_not_a_breach() -> None:
    tracker = LagBreachTracker(threshold_seconds=5, required=1)
    assert not tracker.observe(5.0).breached


def test_unmeasured_samples_neither_reset_nor_advance_the_streak() -> None:
    tracker = LagBreachTracker(threshold_seconds=5, required=3)
    tracker.observe(9)
    tracker.observe(9)
    verdict = tracker.observe(None)
    assert not verdict.counted
    assert verdict.streak == 2
    assert not tracker.observe(float("nan")).counted
    assert tracker.observe(9).breached


def test_only_unmeasured_samples_never_breach_and_are_never_read_as_zero() -> None:
    tracker = LagBreachTracker(threshold_seconds=0, required=1)
    assert not any(tracker.observe(None).breached for _ in range(10))
    assert tracker.observe(0.5).breached  # any measured lag above 0 breaches threshold 0


def test_without_a_threshold_nothing_is_a_breach() -> None:
    tracker = LagBreachTracker(threshold_seconds=None, required=1)
    verdict = tracker.observe(1e9)
    assert not verdict.breached
    assert not verdict.counted


@given(
    threshold=st.floats(0, 100, allow_nan=False),
    required=st.integers(1, 5),
    samples=st.lists(st.none() | st.floats(0, 200, allow_nan=False), max_size=40),
)
def test_breach_iff_the_last_n_measured_samples_all_exceed_the_threshold(
    threshold: float, required: int, samples: list[float | None]
) -> None:
    tracker = LagBreachTracker(threshold_seconds=threshold, required=required)
    for sample in samples:
        tracker.observe(sample)
    measured = [s for s in samples if s is not None]
    tail = measured[-required:]
    expected = len(tail) == required and all(s > threshold for s in tail)
    assert tracker.breached == expected


def test_tracker_rejects_nonsense_configuration() -> None:
    with pytest.raises(ValueError, match="required"):
        LagBreachTracker(threshold_seconds=1, required=0)
    with pytest.raises(ValueError, match="negative"):
        LagBreachTracker(threshold_seconds=-1)


# --- standby grace ---------------------------------------------------------------------------


def test_available_passes_through_at_once_and_is_remembered() -> None:
    grace = StandbyGrace(clock=FakeClock(), grace_seconds=30)
    verdict = grace.observe(StandbySignal.AVAILABLE, "demo-replica")
    assert (verdict.known, verdict.available, verdict.reason) == (True, True, "StandbyReachable")
    assert grace.seen_replica == "demo-replica"


def test_unavailable_is_withheld_until_the_grace_has_passed() -> None:
    clock = FakeClock()
    grace = StandbyGrace(clock=clock, grace_seconds=30)
    assert not grace.observe(StandbySignal.UNAVAILABLE).known
    clock.advance(29)
    assert not grace.observe(StandbySignal.UNAVAILABLE).known
    clock.advance(1)
    verdict = grace.observe(StandbySignal.UNAVAILABLE)
    assert (verdict.known, verdict.available, verdict.gone) == (True, False, False)


def test_zero_grace_degrades_on_the_first_observation() -> None:
    grace = StandbyGrace(clock=FakeClock(), grace_seconds=0)
    assert grace.observe(StandbySignal.UNAVAILABLE).reason == "StandbyUnreachable"


def test_available_in_between_restarts_the_grace_window() -> None:
    clock = FakeClock()
    grace = StandbyGrace(clock=clock, grace_seconds=30)
    grace.observe(StandbySignal.UNAVAILABLE)
    clock.advance(25)
    grace.observe(StandbySignal.AVAILABLE, "demo-replica")
    clock.advance(10)
    assert not grace.observe(StandbySignal.UNAVAILABLE).known  # a new episode
    clock.advance(30)
    assert grace.observe(StandbySignal.UNAVAILABLE).known


def test_probe_errors_never_degrade_and_leave_the_episode_clock_alone() -> None:
    clock = FakeClock()
    grace = StandbyGrace(clock=clock, grace_seconds=30)
    grace.observe(StandbySignal.AVAILABLE, "demo-replica")
    clock.advance(100)
    assert not grace.observe(StandbySignal.UNKNOWN).known  # even long after "available"
    grace.observe(StandbySignal.UNAVAILABLE)
    clock.advance(20)
    assert not grace.observe(StandbySignal.UNKNOWN).known
    clock.advance(10)
    assert grace.observe(StandbySignal.UNAVAILABLE).known  # the episode kept running


def test_unresolved_pair_never_seen_is_never_a_determination() -> None:
    clock = FakeClock()
    grace = StandbyGrace(clock=clock, grace_seconds=30)
    assert not grace.observe(StandbySignal.UNRESOLVED).known
    clock.advance(1000)
    assert not grace.observe(StandbySignal.UNRESOLVED).known


def test_unresolved_pair_seen_before_is_gone_after_grace_with_the_remembered_name() -> None:
    clock = FakeClock()
    grace = StandbyGrace(clock=clock, grace_seconds=30)
    grace.observe(StandbySignal.AVAILABLE, "demo-replica")
    assert not grace.observe(StandbySignal.UNRESOLVED).known
    clock.advance(30)
    verdict = grace.observe(StandbySignal.UNRESOLVED)
    assert (verdict.known, verdict.available, verdict.gone) == (True, False, True)
    assert verdict.replica_cluster == "demo-replica"
    assert verdict.reason == "StandbyAbsent"


def test_restart_over_a_degraded_status_keeps_it_degraded_without_a_new_grace() -> None:
    grace = StandbyGrace.from_status(
        clock=FakeClock(),
        grace_seconds=30,
        standby_replica_cluster="demo-replica",
        standby_available=False,
    )
    verdict = grace.observe(StandbySignal.UNRESOLVED)
    assert (verdict.known, verdict.gone, verdict.replica_cluster) == (True, True, "demo-replica")


def test_restart_over_an_available_status_starts_a_fresh_grace() -> None:
    clock = FakeClock()
    grace = StandbyGrace.from_status(
        clock=clock,
        grace_seconds=30,
        standby_replica_cluster="demo-replica",
        standby_available=True,
    )
    assert not grace.observe(StandbySignal.UNRESOLVED).known
    clock.advance(30)
    assert grace.observe(StandbySignal.UNRESOLVED).gone
