"""The observation rule as a pure function: streaks, lag, standby availability through the
grace window (controller.md §5.3), converge."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from continuum.core.observation import (
    Converge,
    ObservationState,
    PairObserved,
    PairUnreadable,
    StandbyAvailability,
    decide,
    fence_retry,
    standby_signal,
)
from continuum.messages.switchover import PairHalf, PairState
from continuum.switchover.lag import GraceMemory, StandbySignal

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


def observed(
    *halves: PairHalf,
    acting: bool = True,
    running: bool = False,
    at: float = 0.0,
    grace: float = 30.0,
) -> PairObserved:
    return PairObserved(
        pair=PairState(halves=halves),
        region=A,
        writer=A,
        acting=acting,
        run_under_way=running,
        wall=NOW,
        mono=at,
        grace_seconds=grace,
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


def test_a_writer_half_that_no_longer_acts_as_primary_lengthens_the_streak() -> None:
    """Seed 314267 (``--deletions``): an automatic failover demoted the lost writer's
    Cluster, was killed and rolled back, and could not promote it again (its lease had
    lapsed); no Cluster was primary, and the writer's half, Ready as a replica, kept the
    streak at 0, so the standby never failed over again. A writer's half that does not act
    as primary writes nothing: it counts as down."""
    state, _ = decide(ObservationState(), observed(half(A, primary=False), half(B, primary=False)))
    assert state.unreachable_streak == 1
    state, _ = decide(state, observed(half(A, primary=True), half(B, primary=False)))
    assert state.unreachable_streak == 0


def test_standby_lag_is_recorded_and_availability_reported() -> None:
    state, effects = decide(
        ObservationState(),
        observed(half(A, primary=True), half(B, primary=False, lag_seconds=2.5, lag_bytes=10)),
    )
    assert state.lag[B].seconds == 2.5
    assert state.measured_lag == 2.5
    assert state.standby_available is True
    assert effects == [
        StandbyAvailability(available=True, reason="StandbyReachable", replica_cluster="pg-hel")
    ]


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


# --- the standby posture: the grace window wired into the rule -------------------------------

PRIMARY = half(A, primary=True)
READY = half(B, primary=False)
NOT_READY = half(B, primary=False, ready=False)
GONE = PairHalf(region=B, name="", namespace="ns", error="not found", missing=True)
UNREACHABLE = PairHalf(region=B, name="pg-hel", namespace="ns", error="API unreachable")


def standby_effects(effects: Sequence[object]) -> list[StandbyAvailability]:
    return [e for e in effects if isinstance(e, StandbyAvailability)]


def run_ticks(
    state: ObservationState, standby: PairHalf, times: list[float], *, grace: float = 30.0
) -> tuple[ObservationState, list[list[StandbyAvailability]]]:
    verdicts = []
    for at in times:
        state, effects = decide(state, observed(PRIMARY, standby, at=at, grace=grace))
        verdicts.append(standby_effects(effects))
    return state, verdicts


def test_grace_zero_degrades_on_the_first_unready_observation() -> None:
    state, [verdict] = run_ticks(ObservationState(standby_available=True), NOT_READY, [0], grace=0)
    assert state.standby_available is False
    assert verdict == [
        StandbyAvailability(available=False, reason="StandbyUnreachable", replica_cluster="pg-hel")
    ]


def test_grace_holds_the_prior_determination_until_it_has_passed_then_degrades() -> None:
    state, _ = run_ticks(ObservationState(), READY, [0])
    assert state.standby_available is True
    state, verdicts = run_ticks(state, NOT_READY, [10, 20, 30, 39.9])
    assert verdicts == [[], [], [], []]
    assert state.standby_available is True  # the prior determination is kept, not reset
    state, [verdict] = run_ticks(state, NOT_READY, [40])
    assert [(v.available, v.reason) for v in verdict] == [(False, "StandbyUnreachable")]
    assert state.standby_available is False


def test_one_available_observation_recovers_at_once_and_ends_the_episode() -> None:
    state, _ = run_ticks(ObservationState(), NOT_READY, [0, 30], grace=30)
    assert state.standby_available is False
    state, [verdict] = run_ticks(state, READY, [31])
    assert [(v.available, v.reason) for v in verdict] == [(True, "StandbyReachable")]
    assert state.standby_available is True
    state, verdicts = run_ticks(state, NOT_READY, [41, 70])  # a new episode: a new grace
    assert verdicts == [[], []]
    assert state.standby_available is True


def test_while_unavailable_no_tick_without_a_determination_resets_availability() -> None:
    state, _ = run_ticks(ObservationState(), NOT_READY, [0], grace=0)
    for standby in (UNREACHABLE, NOT_READY, UNREACHABLE):
        state, effects = decide(state, observed(PRIMARY, standby, at=5, grace=0))
        assert state.standby_available is False
    state, effects = decide(state, PairUnreadable(error="timeout"))
    assert state.standby_available is False
    assert effects == []


def test_a_replica_never_seen_that_cannot_be_resolved_never_degrades() -> None:
    state, verdicts = run_ticks(ObservationState(), GONE, [float(t) for t in range(0, 1000, 10)])
    assert all(v == [] for v in verdicts)
    assert state.standby_available is None


def test_a_replica_seen_then_deleted_is_gone_after_grace_with_its_remembered_name() -> None:
    state, _ = run_ticks(ObservationState(), READY, [0])
    state, verdicts = run_ticks(state, GONE, [10, 20, 30])
    assert verdicts == [[], [], []]
    state, [verdict] = run_ticks(state, GONE, [40])
    assert verdict == [
        StandbyAvailability(
            available=False, reason="StandbyAbsent", replica_cluster="pg-hel", gone=True
        )
    ]
    assert "can no longer be found" in verdict[0].message


def test_an_unreachable_standby_api_is_no_determination_and_leaves_the_episode_running() -> None:
    state, _ = run_ticks(ObservationState(), READY, [0])
    state, _ = run_ticks(state, NOT_READY, [10])  # the episode starts
    state, verdicts = run_ticks(state, UNREACHABLE, [20, 30, 100])
    assert verdicts == [[], [], []]
    assert state.standby_available is True
    state, [verdict] = run_ticks(state, NOT_READY, [101])  # the episode kept running
    assert [v.available for v in verdict] == [False]


def test_restart_over_a_degraded_status_counts_the_grace_as_served() -> None:
    seeded = ObservationState(
        standby_available=False,
        standby=GraceMemory.from_status(standby_replica_cluster="pg-hel", standby_available=False),
    )
    state, [verdict] = run_ticks(seeded, GONE, [0])
    assert [(v.reason, v.replica_cluster) for v in verdict] == [("StandbyAbsent", "pg-hel")]
    assert state.standby_available is False


def test_restart_over_a_green_status_starts_a_fresh_grace() -> None:
    seeded = ObservationState(
        standby_available=True,
        standby=GraceMemory.from_status(standby_replica_cluster="pg-hel", standby_available=True),
    )
    state, verdicts = run_ticks(seeded, GONE, [0, 29])
    assert verdicts == [[], []]
    state, [verdict] = run_ticks(state, GONE, [30])
    assert [v.gone for v in verdict] == [True]


def test_no_determination_while_a_run_of_this_instance_is_under_way() -> None:
    state, _ = run_ticks(ObservationState(), READY, [0])
    _, effects = decide(state, observed(PRIMARY, NOT_READY, at=100, grace=0, running=True))
    assert standby_effects(effects) == []


def test_the_standby_signal_follows_the_halves_other_than_the_writers() -> None:
    def signal(*standbys: PairHalf) -> tuple[StandbySignal, str]:
        return standby_signal(PairState(halves=(PRIMARY, *standbys)), writer=A)

    assert signal(READY) == (StandbySignal.AVAILABLE, "pg-hel")
    assert signal(NOT_READY) == (StandbySignal.UNAVAILABLE, "pg-hel")
    assert signal(GONE) == (StandbySignal.UNRESOLVED, "")
    assert signal(UNREACHABLE) == (StandbySignal.UNKNOWN, "")
    assert signal() == (StandbySignal.UNKNOWN, "")
    # StandbyAvailable semantics: Ready, and at least one ready instance when published;
    # lag never matters.
    assert signal(half(B, primary=False, ready_instances=1)) == (StandbySignal.AVAILABLE, "pg-hel")
    assert signal(half(B, primary=False, ready_instances=0))[0] is StandbySignal.UNAVAILABLE
    assert signal(half(B, primary=False, lag_seconds=900.0))[0] is StandbySignal.AVAILABLE
    lagging_down = half(B, primary=False, ready=False, lag_seconds=900.0)
    assert signal(lagging_down)[0] is StandbySignal.UNAVAILABLE
    third = PairHalf(region="ber", name="pg-ber", namespace="ns", ready=False)
    assert signal(READY, third) == (StandbySignal.UNAVAILABLE, "pg-ber")
    assert signal(READY, GONE) == (StandbySignal.UNRESOLVED, "")


def test_a_failed_demotion_observes_again_after_a_backoff_capped_at_the_cadence() -> None:
    """Seed 548591: a refused demotion of a second primary is tried again after 0.5 s,
    doubling, at most the cadence; a round whose demotions landed starts the backoff over."""
    failures, delays = 0, []
    for _ in range(7):
        failures, delay = fence_retry(failures, failed=True, cap=10.0)
        delays.append(delay)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert fence_retry(failures, failed=False, cap=10.0) == (0, None)
    assert fence_retry(0, failed=True, cap=10.0) == (1, 0.5)
