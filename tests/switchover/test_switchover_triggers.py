"""Triggers: operator request, failback approval, auto-failover, lag breach."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from continuum.messages.lease import Lease
from continuum.switchover.triggers import (
    FailbackExpired,
    FailbackPending,
    NoAction,
    RunSwitchover,
    TriggerInputs,
    decide_trigger,
    next_streak,
)
from tests.switchover.fakes import KEY, A, B

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LIVE = Lease(key=KEY, holder=A, generation=3, expires_at=NOW + timedelta(seconds=20))
EXPIRED = Lease(key=KEY, holder=A, generation=3, expires_at=NOW - timedelta(seconds=1))


def inputs(**kw: object) -> TriggerInputs:
    values: dict[str, object] = {
        "self_region": A,
        "original_primary": A,
        "acting_primary": A,
        "hot_standby_regions": (B,),
        "now": NOW,
        "lease": LIVE,
    }
    values.update(kw)
    return TriggerInputs(**values)  # type: ignore[arg-type]


def test_operator_request_runs_on_the_acting_instance_with_its_reason() -> None:
    decision = decide_trigger(
        inputs(requested=True, requested_reason="maintenance", requested_by="ops@acme.io")
    )
    assert decision == RunSwitchover(
        from_region=A, to_region=B, reason="maintenance", initiated_by="ops@acme.io"
    )


def test_operator_request_is_ignored_by_a_standby_instance() -> None:
    assert isinstance(decide_trigger(inputs(requested=True, self_region=B)), NoAction)


def test_request_for_the_acting_primary_is_no_action() -> None:
    assert isinstance(decide_trigger(inputs(requested=True, requested_target=A)), NoAction)


def test_failback_waits_for_approval_then_runs_with_reason_failback() -> None:
    after = {"acting_primary": B, "self_region": B, "requested": True}
    assert decide_trigger(inputs(**after)) == FailbackPending(from_region=B, to_region=A)
    approved = decide_trigger(inputs(**after, failback_approved=True))
    assert isinstance(approved, RunSwitchover)
    assert (approved.to_region, approved.reason) == (A, "failback")


def test_ungated_failback_runs_without_approval() -> None:
    after = {"acting_primary": B, "self_region": B, "requested": True}
    decision = decide_trigger(inputs(**after, failback_requires_approval=False))
    assert isinstance(decision, RunSwitchover)
    assert (decision.to_region, decision.reason) == (A, "failback")


@pytest.mark.parametrize(
    ("limit", "waited", "expired"), [(60, 59.0, False), (60, 60.0, True), (0, 10**6, False)]
)
def test_failback_waiting_past_the_approval_timeout_is_given_up(
    limit: int, waited: float, expired: bool
) -> None:
    after = {"acting_primary": B, "self_region": B, "requested": True}
    decision = decide_trigger(
        inputs(
            **after,
            failback_approval_timeout_seconds=limit,
            failback_pending_since=NOW - timedelta(seconds=waited),
        )
    )
    if expired:
        assert decision == FailbackExpired(from_region=B, to_region=A, waited_seconds=waited)
    else:
        assert decision == FailbackPending(from_region=B, to_region=A)
    # approval always wins over the clock
    approved = inputs(
        **after,
        failback_approved=True,
        failback_approval_timeout_seconds=limit,
        failback_pending_since=NOW - timedelta(seconds=waited),
    )
    assert isinstance(decide_trigger(approved), RunSwitchover)


def test_auto_failover_needs_the_flag_an_expired_lease_and_n_observations() -> None:
    standby = {"self_region": B, "lease": EXPIRED, "unreachable_streak": 3}
    assert isinstance(decide_trigger(inputs(**standby)), NoAction)  # autoFailover off
    run = decide_trigger(inputs(**standby, auto_failover=True))
    assert run == RunSwitchover(
        from_region=A,
        to_region=B,
        reason="auto-failover",
        initiated_by="auto-failover",
        unplanned=True,
    )
    assert isinstance(
        decide_trigger(inputs(**{**standby, "lease": LIVE}, auto_failover=True)), NoAction
    )
    assert isinstance(
        decide_trigger(inputs(**{**standby, "unreachable_streak": 2}, auto_failover=True)),
        NoAction,
    )
    assert isinstance(
        decide_trigger(inputs(**{**standby, "lease": None}, auto_failover=True)), NoAction
    )


def test_a_standing_request_does_not_hold_back_an_automatic_failover() -> None:
    """Seed 314267 (``--deletions``): ``spec.switchover.requested`` stood while the acting
    region was gone (its CR deleted, its lease expired, no Cluster primary): the request is
    the acting instance's to run, and the standby's instance, which used to stop at it, never
    failed over. It now goes on to the automatic failover rule."""
    standby = {"self_region": B, "lease": EXPIRED, "unreachable_streak": 3}
    for target in (A, B):
        requested = {**standby, "requested": True, "requested_target": target}
        assert isinstance(decide_trigger(inputs(**requested)), NoAction)  # autoFailover off
        run = decide_trigger(inputs(**requested, auto_failover=True))
        assert run == RunSwitchover(
            from_region=A,
            to_region=B,
            reason="auto-failover",
            initiated_by="auto-failover",
            unplanned=True,
        )
        live = {**requested, "lease": LIVE}
        assert isinstance(decide_trigger(inputs(**live, auto_failover=True)), NoAction)


@pytest.mark.parametrize(("streak", "runs"), [(1, False), (2, False), (3, True)])
def test_lag_breach_needs_n_consecutive_breaches_and_auto_failover(streak: int, runs: bool) -> None:
    decision = decide_trigger(inputs(auto_failover=True, lag_breach_streak=streak))
    assert isinstance(decision, RunSwitchover) is runs
    assert isinstance(decide_trigger(inputs(lag_breach_streak=streak)), NoAction)


def test_streak_counts_consecutive_observations_only() -> None:
    streak = 0
    for seen in (True, True, False, True):
        streak = next_streak(streak, seen)
    assert streak == 1
