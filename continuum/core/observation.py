"""What one observation of the CNPG pair means: a pure decision function.

``decide(state, event) -> (state, effects)``: the event is an observation result
(:class:`PairObserved`, or :class:`PairUnreadable` when the pair could not be read); the state
is what observations accumulate (:class:`ObservationState`: the streak of observations with
the writer's half down, the per-standby lag, whether a standby is available and the memory of
the standby grace window). Effects are :class:`Converge` actions that bring the world back to
the lease — today one kind, demoting a half that still acts as primary beside the writer's
(``stale.py``'s rule) — and :class:`StandbyAvailability`, the standby determination to write
(condition ``StandbyAvailable``, ``standbyAvailable``, ``standbyReplicaCluster``), made through
the grace window of controller.md §5.3 (:func:`~continuum.switchover.lag.fold_standby`).

Never does I/O, never reads a clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from continuum.core.status_retry import backoff
from continuum.messages.status import ReplicationLag
from continuum.messages.switchover import PairState
from continuum.switchover.lag import (
    REASON_ABSENT,
    GraceMemory,
    StandbySignal,
    fold_standby,
)
from continuum.switchover.triggers import next_streak

__all__ = [
    "Converge",
    "Effect",
    "ObservationState",
    "PairObserved",
    "PairUnreadable",
    "StandbyAvailability",
    "decide",
    "fence_retry",
    "stale_primaries",
    "standby_signal",
]


class ObservationState(msgspec.Struct, frozen=True, kw_only=True):
    unreachable_streak: int = 0
    """Consecutive observations with the writer's half unreadable or not Ready."""
    lag: dict[str, ReplicationLag] = msgspec.field(default_factory=dict)
    """Per standby region: the last lag measured (kept when a half could not be read)."""
    standby_available: bool | None = None
    """The standby availability to report: the last determination's, kept while a tick
    makes none (within the grace window, or nothing readable) — never reset to "unknown"."""
    standby: GraceMemory = msgspec.field(default_factory=GraceMemory)
    """The grace window's memory (last replica seen, current unavailable episode)."""
    measured_lag: float | None = None
    """The worst standby lag of the last observation (``None``: not measured)."""


class PairObserved(msgspec.Struct, frozen=True, kw_only=True):
    """The pair as read now. ``writer``: the region holding the writer role as this instance
    knows it; ``acting``: this instance acts as writer; ``run_under_way``: a switchover of
    this instance is running (it owns the roles meanwhile). ``mono``: the monotonic instant
    of the observation; ``grace_seconds``: ``spec.standbyGraceSeconds``."""

    pair: PairState
    region: str
    writer: str
    acting: bool
    run_under_way: bool
    wall: datetime
    mono: float
    grace_seconds: float


class PairUnreadable(msgspec.Struct, frozen=True, kw_only=True):
    error: str


Event = PairObserved | PairUnreadable


class Converge(msgspec.Struct, frozen=True, kw_only=True):
    """Bring one part of the world back to the lease holder ``towards``.

    ``demote-stale-primary``: ``region``'s half still acts as primary beside the writer's;
    point it at the writer (distributed topology) or make it a replica (replica-flip)."""

    action: Literal["demote-stale-primary"]
    region: str
    towards: str
    distributed: bool


class StandbyAvailability(msgspec.Struct, frozen=True, kw_only=True):
    """A standby determination: ``available`` or not; ``gone`` when the replica Cluster can
    no longer be found; ``replica_cluster`` names it; ``reason`` is the condition reason
    (``StandbyReachable``, ``StandbyUnreachable``, ``StandbyAbsent``)."""

    available: bool
    reason: str
    replica_cluster: str = ""
    gone: bool = False

    @property
    def message(self) -> str:
        """The ``StandbyAvailable`` condition message (stable while the determination is)."""
        name = f'standby Cluster "{self.replica_cluster}"' if self.replica_cluster else "standby"
        if self.available:
            return f"{name} is Ready and following the primary"
        if self.reason == REASON_ABSENT:
            return (
                f"{name} can no longer be found in its region: the pair has no hot standby, "
                "a switchover or failover has nowhere to go"
            )
        return (
            f"{name} is not Ready: writes are not protected by a ready hot standby, "
            "a switchover to it would not complete"
        )


Effect = Converge | StandbyAvailability


def stale_primaries(state: PairState, *, writer: str) -> list[str]:
    """Regions other than ``writer`` whose readable half acts as primary, when ``writer``'s
    own half is readable and acts as primary (otherwise nothing is stale: a switchover or
    a failover is still under way, and its own steps own the roles)."""
    mine = next((h for h in state.halves if h.region == writer), None)
    if mine is None or mine.error or not mine.acts_as_primary:
        return []
    return [
        half.region
        for half in state.halves
        if half.region != writer and not half.error and half.acts_as_primary
    ]


def fence_retry(failures: int, *, failed: bool, cap: float) -> tuple[int, float | None]:
    """After an observation's demotions of a primary beside the holder's (a stale primary,
    or the other half while the holder's is a replica): the failed rounds in a row, and the
    delay of an early observation trying again (``None``: none). A round with a demotion
    that failed tries again after :func:`~continuum.core.status_retry.backoff` (0.5 s,
    doubling, at most ``cap``, the cadence) rather than at the next tick: two primaries
    accept writes meanwhile, and a demotion meeting one refused or lost call would otherwise
    leave them a whole cadence more (seed 548591). A round whose demotions all landed starts
    the backoff over."""
    if not failed:
        return 0, None
    failures += 1
    return failures, backoff(failures, cap=cap)


def standby_signal(pair: PairState, *, writer: str) -> tuple[StandbySignal, str]:
    """One tick's raw standby input (controller.md §5.1, §5.3), from the halves other than
    ``writer``'s, with the replica name it concerns:

    * a readable half that is not serving (not Ready, or ``readyInstances`` published and 0;
      lag never counts) → UNAVAILABLE (its name);
    * else a half whose Cluster does not exist (``missing``) → UNRESOLVED;
    * else a readable half (all of them Ready) → AVAILABLE (the first one's name);
    * else (every standby's API unreachable) → UNKNOWN: an API that cannot be reached says
      nothing about the database behind it.
    """
    standbys = [h for h in pair.halves if h.region != writer]
    readable = [h for h in standbys if not h.error]
    down = [h for h in readable if not h.ready or h.ready_instances == 0]
    if down:
        return StandbySignal.UNAVAILABLE, down[0].name
    if any(h.missing for h in standbys):
        return StandbySignal.UNRESOLVED, ""
    if readable:
        return StandbySignal.AVAILABLE, readable[0].name
    return StandbySignal.UNKNOWN, ""


def decide(state: ObservationState, event: Event) -> tuple[ObservationState, list[Effect]]:
    """One observation. An unreadable pair only lengthens the unreachable streak. Otherwise:
    the writer's half down (unreadable, not Ready, or not acting as primary) lengthens the
    streak, else resets it;
    each readable standby's lag is recorded; the standby signal (:func:`standby_signal`)
    goes through the grace window (:func:`~continuum.switchover.lag.fold_standby`) and a
    determination, when there is one, becomes a :class:`StandbyAvailability` — none while
    a run of this instance is under way (its steps demote and promote the halves; the
    episode clock is left alone); and the acting writer with no run under way converges
    every stale primary towards itself."""
    if isinstance(event, PairUnreadable):
        streak = next_streak(state.unreachable_streak, True)
        return msgspec.structs.replace(state, unreachable_streak=streak), []
    lag = dict(state.lag)
    primary_down = False
    worst = 0.0
    for half in event.pair.halves:
        if half.region == event.writer:
            # A writer's half that no longer acts as primary (demoted by a failover rolled
            # back that could not promote it again, its lease lapsed) writes nothing: down,
            # as an unreadable or unready one (seed 314267).
            primary_down = bool(half.error) or not half.ready or not half.acts_as_primary
            continue
        if half.error:
            continue
        if half.lag_seconds is not None:
            lag[half.region] = ReplicationLag(
                seconds=half.lag_seconds, bytes=half.lag_bytes, observed_at=event.wall
            )
            worst = max(worst, half.lag_seconds)
    effects: list[Effect] = []
    if event.acting and not event.run_under_way:
        halves = {h.region: h for h in event.pair.halves}
        effects += [
            Converge(
                action="demote-stale-primary",
                region=region,
                towards=event.region,
                distributed=halves[region].distributed,
            )
            for region in stale_primaries(event.pair, writer=event.region)
        ]
    signal, name = (
        (StandbySignal.UNKNOWN, "")
        if event.run_under_way
        else standby_signal(event.pair, writer=event.writer)
    )
    memory, verdict = fold_standby(
        state.standby, signal, name, now=event.mono, grace_seconds=event.grace_seconds
    )
    available = state.standby_available
    if verdict.known:
        available = verdict.available
        effects.append(
            StandbyAvailability(
                available=verdict.available,
                reason=verdict.reason,
                replica_cluster=verdict.replica_cluster,
                gone=verdict.gone,
            )
        )
    measured = worst if any(h.lag_seconds is not None for h in event.pair.halves) else None
    state = msgspec.structs.replace(
        state,
        unreachable_streak=next_streak(state.unreachable_streak, primary_down),
        lag=lag,
        standby_available=available,
        standby=memory,
        measured_lag=measured,
    )
    return state, effects
