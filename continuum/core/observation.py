"""What one observation of the CNPG pair means: a pure decision function.

``decide(state, event) -> (state, effects)``: the event is an observation result
(:class:`PairObserved`, or :class:`PairUnreadable` when the pair could not be read); the state
is what observations accumulate (:class:`ObservationState`: the streak of observations with
the writer's half down, the per-standby lag, whether a standby is available). Effects are
:class:`Converge` actions that bring the world back to the lease — today one kind, demoting a
half that still acts as primary beside the writer's (``stale.py``'s rule); the convergence of
issue 13 (DNS, routes, promoting the holder's half) adds its kinds here — and
:class:`StandbyAvailability`, the condition to set.

Never does I/O, never reads a clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from continuum.messages.status import ReplicationLag
from continuum.messages.switchover import PairState
from continuum.switchover.triggers import next_streak

__all__ = [
    "Converge",
    "Effect",
    "ObservationState",
    "PairObserved",
    "PairUnreadable",
    "StandbyAvailability",
    "decide",
    "stale_primaries",
]


class ObservationState(msgspec.Struct, frozen=True, kw_only=True):
    unreachable_streak: int = 0
    """Consecutive observations with the writer's half unreadable or not Ready."""
    lag: dict[str, ReplicationLag] = msgspec.field(default_factory=dict)
    """Per standby region: the last lag measured (kept when a half could not be read)."""
    standby_available: bool | None = None
    measured_lag: float | None = None
    """The worst standby lag of the last observation (``None``: not measured)."""


class PairObserved(msgspec.Struct, frozen=True, kw_only=True):
    """The pair as read now. ``writer``: the region holding the writer role as this instance
    knows it; ``acting``: this instance acts as writer; ``run_under_way``: a switchover of
    this instance is running (it owns the roles meanwhile)."""

    pair: PairState
    region: str
    writer: str
    acting: bool
    run_under_way: bool
    wall: datetime


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
    available: bool


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


def decide(state: ObservationState, event: Event) -> tuple[ObservationState, list[Effect]]:
    """One observation. An unreadable pair only lengthens the unreachable streak. Otherwise:
    the writer's half down (unreadable or not Ready) lengthens the streak, else resets it;
    each readable standby's lag is recorded; a standby is available while every readable
    standby is Ready; and the acting writer with no run under way converges every stale
    primary towards itself."""
    if isinstance(event, PairUnreadable):
        streak = next_streak(state.unreachable_streak, True)
        return msgspec.structs.replace(state, unreachable_streak=streak), []
    lag = dict(state.lag)
    standby_ok: bool | None = None
    primary_down = False
    worst = 0.0
    for half in event.pair.halves:
        if half.region == event.writer:
            primary_down = bool(half.error) or not half.ready
            continue
        if half.error:
            continue
        standby_ok = bool(standby_ok is not False and half.ready)
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
    if standby_ok is not None:
        effects.append(StandbyAvailability(available=standby_ok))
    measured = worst if any(h.lag_seconds is not None for h in event.pair.halves) else None
    state = msgspec.structs.replace(
        state,
        unreachable_streak=next_streak(state.unreachable_streak, primary_down),
        lag=lag,
        standby_available=standby_ok,
        measured_lag=measured,
    )
    return state, effects
