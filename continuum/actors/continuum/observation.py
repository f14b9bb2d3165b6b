"""What a ContinuumActor observes of the pair on each observation tick
(``RenewDue(observe=True)``) and what it decides from it.

The pair's halves (readiness, lag), the optional ``pg_stat_replication`` probe, the fencing
of a stale primary by the writer, and the switchover triggers (a request, a failback awaiting
approval, an unreachable primary, a lag breach). The reads (:func:`read_pair`) run in the
observation's child task (:mod:`~continuum.actors.continuum.background_observation`); the
rest are plain functions over the actor, called from its message handling only.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import msgspec

from continuum.actors.continuum import failback
from continuum.actors.continuum.finalizing import note_pair
from continuum.actors.continuum.limits import READ_TIMEOUT
from continuum.actors.continuum.runs import start_run
from continuum.core import observation as rule
from continuum.core.observation import ObservationState
from continuum.errors import ContinuumError
from continuum.messages.audit import AuditType
from continuum.messages.replication import ReplicationObservation
from continuum.messages.status import (
    COND_STANDBY_AVAILABLE,
    ReplicationLag,
    max_replication_lag,
)
from continuum.messages.switchover import PairHalf, PairState
from continuum.switchover.lag import derive_posture
from continuum.switchover.timeouts import with_timeout
from continuum.switchover.triggers import (
    FailbackExpired,
    FailbackPending,
    RunSwitchover,
    TriggerInputs,
    decide_trigger,
)

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor
    from continuum.actors.continuum.env import Collaborators
    from continuum.actors.continuum.messages import WorldReads

__all__ = [
    "evaluate_triggers",
    "pair_configured",
    "pair_observed",
    "read_pair",
]


def pair_configured(actor: ContinuumActor) -> bool:
    """Whether the observation reads the pair (a pair edge and the ``cnpg-pair``
    mechanism)."""
    return actor.collab.pair is not None and actor.cr.spec.switchover.mechanism == "cnpg-pair"


async def read_pair(
    actor: ContinuumActor, collab: Collaborators, *, writer: str, probe: bool
) -> tuple[PairState | None, str, ReplicationObservation | None]:
    """Read the pair (bounded), then, with ``probe`` and a readable standby half, the
    optional ``pg_stat_replication`` probe on ``writer``'s half (bounded). Returns the pair
    (``None``: unreadable), why it is unreadable, and the probe's answer (``None``: not
    configured, not asked, or failed — a failed probe is never a lag of 0). Reads only;
    called from a child task (or at start-up)."""
    assert collab.pair is not None
    try:
        state = await with_timeout(actor.clock, READ_TIMEOUT, collab.pair.read_pair)
    except (ContinuumError, TimeoutError) as exc:
        actor.log.warning("pair_unreadable", error=str(exc))
        return None, str(exc) or type(exc).__name__, None
    sample = collab.replication
    if not probe or sample is None or _standby(state, writer) is None:
        return state, "", None
    try:
        observed = await with_timeout(actor.clock, READ_TIMEOUT, lambda: sample(writer))
    except (ContinuumError, TimeoutError, OSError) as exc:
        actor.log.warning("replication_probe_failed", error=str(exc))
        return state, "", None
    return state, "", observed


def _standby(state: PairState, writer: str) -> PairHalf | None:
    return next((h for h in state.halves if h.region != writer and not h.error), None)


def pair_observed(
    actor: ContinuumActor, reads: WorldReads, *, probed_writer: str
) -> list[rule.Converge]:
    """Carry out what the observation rule (:mod:`continuum.core.observation`) decides from
    the pair as read, with the fences as they are now (the writer, this instance acting, a
    run under way): streaks, per-standby lag (the probe's answer counts only while
    ``probed_writer`` is still the writer), standby availability through the grace window
    (``spec.standbyGraceSeconds``; the status keeps the last determination until a new one is
    made). An unreadable pair counts towards the unreachable streak and changes nothing else.
    Returns the stale primaries to converge (the caller writes them outside the mailbox).
    No I/O."""
    acting = actor.acting_primary()
    state = ObservationState(
        unreachable_streak=actor.unreachable_streak,
        lag=dict(actor.status.replication_lag),
        standby_available=actor.status.standby_available,
        standby=actor.standby_grace,
    )
    if reads.pair is None:
        state, _ = rule.decide(state, rule.PairUnreadable(error=reads.pair_error))
        actor.unreachable_streak = state.unreachable_streak
        return []
    note_pair(actor, reads.pair)
    if all(half.reachable for half in reads.pair.halves):
        primaries = reads.pair.acting_primaries()
        actor.observed_primary = primaries[0] if len(primaries) == 1 else ""
    now = actor.clock.now()
    state, effects = rule.decide(
        state,
        rule.PairObserved(
            pair=reads.pair,
            region=actor.region,
            writer=acting,
            acting=actor.acting(),
            run_under_way=actor.running is not None,
            wall=now,
            mono=actor.clock.monotonic(),
            grace_seconds=float(actor.cr.spec.standby_grace_seconds),
        ),
    )
    actor.unreachable_streak = state.unreachable_streak
    actor.standby_grace = state.standby
    lag = dict(state.lag)
    probed = None
    if reads.probe is not None and probed_writer == acting:
        probed = _probed_lag(reads.pair, reads.probe, acting, lag, now)
    measured = probed if probed is not None else state.measured_lag
    actor.lag_streak = actor.lag_tracker.observe(measured).streak
    replica = actor.status.standby_replica_cluster
    for effect in effects:
        if isinstance(effect, rule.StandbyAvailability):
            actor.condition(
                COND_STANDBY_AVAILABLE,
                "True" if effect.available else "False",
                effect.reason,
                effect.message,
            )
            replica = effect.replica_cluster or replica
    actor.status = msgspec.structs.replace(
        actor.status,
        replication_lag=lag,
        max_replication_lag=max_replication_lag(lag),
        standby_available=state.standby_available,
        standby_replica_cluster=replica,
    )
    return [effect for effect in effects if isinstance(effect, rule.Converge)]


def _probed_lag(
    state: PairState,
    observation: ReplicationObservation,
    acting: str,
    lag: dict[str, ReplicationLag],
    now: datetime,
) -> float | None:
    """The standby's lag from the probe's answer, written into ``lag``; ``None``: not
    measured."""
    standby = _standby(state, acting)
    if standby is None:
        return None
    posture = derive_posture(observation, standby.name)
    if posture.max_lag_seconds is None:
        return None
    lag[standby.region] = ReplicationLag(
        seconds=posture.max_lag_seconds, bytes=posture.max_lag_bytes, observed_at=now
    )
    return posture.max_lag_seconds


async def evaluate_triggers(actor: ContinuumActor) -> None:
    """Start a run when the trigger rule says so (an unplanned one only by its target
    region's instance), or announce a failback awaiting approval. Nothing while a run is
    under way, the spec is invalid or the CR is being deleted."""
    if actor.running is not None or actor.spec_error is not None or actor.cr.deleting:
        return
    spec = actor.cr.spec
    decision = decide_trigger(
        TriggerInputs(
            self_region=actor.region,
            original_primary=spec.primary_region,
            acting_primary=actor.acting_primary() if not actor.acting() else actor.region,
            hot_standby_regions=tuple(spec.hot_standby_regions),
            now=actor.clock.now(),
            lease=None if actor.witness_error else actor.lease_view,
            requested=spec.switchover.requested,
            requested_target=spec.switchover.target_region or "",
            requested_reason=spec.switchover.reason,
            requested_by=spec.switchover.requested_by,
            failback_approved=spec.failback.approved,
            failback_requires_approval=spec.failback.require_approval,
            failback_pending_since=failback.pending_since(actor),
            failback_approval_timeout_seconds=spec.failback.approval_timeout_seconds,
            auto_failover=spec.auto_failover,
            unreachable_streak=actor.unreachable_streak,
            lag_breach_streak=actor.lag_streak,
            required_streak=spec.auto_failover_observations,
        )
    )
    if isinstance(decision, FailbackPending):
        await failback.failback_waits(actor, decision.from_region, decision.to_region)
    elif isinstance(decision, FailbackExpired):
        await failback.failback_timed_out(
            actor, decision.from_region, decision.to_region, decision.waited_seconds
        )
    elif isinstance(decision, RunSwitchover):
        if decision.reason == "failback":
            await failback.failback_runs(actor, decision.from_region, decision.to_region)
        if decision.unplanned and decision.to_region != actor.region:
            return
        if decision.reason == "lag-breach":
            await actor.emit(
                AuditType.CNPG_LAG_BREACH,
                identity=("lag", actor.lag_streak, actor.clock.now().isoformat()),
                fromPrimary=decision.from_region,
                reason="lag-breach",
                message=f"replication lag over threshold for {actor.lag_streak} observations",
            )
        elif spec.switchover.requested and not decision.unplanned:
            await actor.emit(
                AuditType.CNPG_PROMOTABLE,
                identity=("promotable", actor.cr.metadata.generation),
                fromPrimary=decision.from_region,
                reason="promotable",
                message="standby promotable; switchover requested",
            )
        start_run(
            actor,
            from_region=decision.from_region,
            to_region=decision.to_region,
            reason=decision.reason,
            initiated_by=decision.initiated_by,
            unplanned=decision.unplanned,
            # An automatic failover is not the request's run (a standing request does not
            # hold it back): the request stays for the acting instance to decide.
            from_request=spec.switchover.requested and not decision.unplanned,
        )
