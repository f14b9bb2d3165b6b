"""The observation rule as a pure function: streaks, lag, standby availability, converge."""

from __future__ import annotations

from datetime import UTC, datetime

from continuum.core.observation import (
    Converge,
    ObservationState,
    PairObserved,
    PairUnreadable,
    StandbyAvailability,
    decide,
)
from continuum.messages.switchover import PairHalf, PairState

A, B = "fsn", "hel"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def half(region: str, *, primary: bool, ready: bool = True, **kw: object) -> PairHalf:
    name = f"pg-{region}"
    return PairHalf(
        region=region,
        name=name,
        namespace="ns",
        ready=ready,
        replica_self=name,
        replica_primary=name if primary else f"pg-{A if region == B else B}",
        **kw,  # type: ignore[arg-type]
    )


def observed(*halves: PairHalf, acting: bool = True, running: bool = False) -> PairObserved:
    return PairObserved(
        pair=PairState(halves=halves),
        region=A,
        writer=A,
        acting=acting,
        run_under_way=running,
        wall=NOW,
    )


def test_an_unreadable_pair_only_lengthens_the_streak() -> None:
    state, effects = decide(ObservationState(unreachable_streak=2), PairUnreadable(error="x"))
    assert state.unreachable_streak == 3
    assert effects == []


def test_the_writer_half_down_lengthens_the_streak_and_a_ready_one_resets_it() -> None:
    state, _ = decide(ObservationState(), observed(half(A, primary=True, ready=False)))
    assert state.unreachable_streak == 1
    state, _ = decide(state, observed(half(A, primary=True)))
    assert state.unreachable_streak == 0


def test_standby_lag_is_recorded_and_availability_reported() -> None:
    state, effects = decide(
        ObservationState(),
        observed(half(A, primary=True), half(B, primary=False, lag_seconds=2.5, lag_bytes=10)),
    )
    assert state.lag[B].seconds == 2.5
    assert state.measured_lag == 2.5
    assert state.standby_available is True
    assert effects == [StandbyAvailability(available=True)]


def test_the_acting_writer_converges_a_stale_primary_but_never_during_a_run() -> None:
    both = (half(A, primary=True), half(B, primary=True))
    _, effects = decide(ObservationState(), observed(*both))
    assert Converge(action="demote-stale-primary", region=B, towards=A, distributed=True) in effects
    _, effects = decide(ObservationState(), observed(*both, running=True))
    assert not [e for e in effects if isinstance(e, Converge)]
    _, effects = decide(ObservationState(), observed(*both, acting=False))
    assert not [e for e in effects if isinstance(e, Converge)]


def test_nothing_is_stale_while_the_writer_half_is_not_primary() -> None:
    _, effects = decide(ObservationState(), observed(half(A, primary=False), half(B, primary=True)))
    assert not [e for e in effects if isinstance(e, Converge)]
