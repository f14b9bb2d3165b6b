"""What a ContinuumActor observes on each ``ObserveDue`` and what it decides from it.

The pair's halves (readiness, lag), the optional ``pg_stat_replication`` probe, the fencing
of a stale primary by the writer, and the switchover triggers (a request, a failback awaiting
approval, an unreachable primary, a lag breach). Plain functions over the actor, called from
its message handling only.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import msgspec

from continuum.actors.continuum import failback
from continuum.actors.continuum.converging import converge_world
from continuum.actors.continuum.finalizing import note_pair
from continuum.actors.continuum.limits import READ_TIMEOUT
from continuum.actors.continuum.role_reassert import reassert_roles
from continuum.actors.continuum.runs import start_run
from continuum.actors.continuum.stale import converge
from continuum.core import observation as rule
from continuum.core.observation import ObservationState
from continuum.errors import ContinuumError
from continuum.messages.audit import AuditType
from continuum.messages.status import (
    COND_STANDBY_AVAILABLE,
    ReplicationLag,
    max_replication_lag,
)
from continuum.messages.switchover import PairState
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

__all__ = ["announce_failback_pending", "evaluate_triggers", "observe", "observe_world"]


async def observe(actor: ContinuumActor) -> None:
    """Read the pair (``cnpg-pair`` mechanism only) and carry out what the observation rule
    (:mod:`continuum.core.observation`) decides: streaks, per-standby lag, standby
    availability through the grace window (``spec.standbyGraceSeconds``; the status keeps
    the last determination until a new one is made), converging a stale primary. An
    unreadable pair counts towards the unreachable streak and changes nothing else. After a
    change of acting primary the managed-role Secrets are touched
    (:func:`~continuum.actors.continuum.role_reassert.reassert_roles`). Then the
    world beside the pair (DNS, the route) is assessed against the lease holder and converged to it
    (:func:`~continuum.actors.continuum.converging.converge_world`)."""
    pair = actor.collab.pair
    if pair is None or actor.cr.spec.switchover.mechanism != "cnpg-pair":
        await converge_world(actor, None)
        return
    acting = actor.acting_primary()
    state = ObservationState(
        unreachable_streak=actor.unreachable_streak,
        lag=dict(actor.status.replication_lag),
        standby_available=actor.status.standby_available,
        standby=actor.standby_grace,
    )
    try:
        pair_state = await with_timeout(actor.clock, READ_TIMEOUT, pair.read_pair)
    except (ContinuumError, TimeoutError) as exc:
        actor.log.warning("pair_unreadable", error=str(exc))
        state, _ = rule.decide(state, rule.PairUnreadable(error=str(exc)))
        actor.unreachable_streak = state.unreachable_streak
        await converge_world(actor, None, pair_error=str(exc) or type(exc).__name__)
        return
    note_pair(actor, pair_state)
    now = actor.clock.now()
    state, effects = rule.decide(
        state,
        rule.PairObserved(
            pair=pair_state,
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
    for effect in effects:
        if isinstance(effect, rule.Converge):
            outcome = await converge(pair, effect, clock=actor.clock, timeout=READ_TIMEOUT)
            actor.log.warning("stale_primary_demoted", stale=effect.region, outcome=outcome)
    await converge_world(actor, pair_state)
    await reassert_roles(actor, pair_state)
    probed = await _probe_replication(actor, acting, pair_state, lag, now)
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


async def observe_world(actor: ContinuumActor) -> None:
    """Assess the world against the lease holder only (the pair, DNS, the route), without
    the streaks, the lag probe or any action beyond what convergence decides — at start, so
    the first status written reports the world as observed."""
    pair = actor.collab.pair
    if pair is None or actor.cr.spec.switchover.mechanism != "cnpg-pair":
        await converge_world(actor, None)
        return
    try:
        pair_state = await with_timeout(actor.clock, READ_TIMEOUT, pair.read_pair)
    except (ContinuumError, TimeoutError) as exc:
        await converge_world(actor, None, pair_error=str(exc) or type(exc).__name__)
        return
    await converge_world(actor, pair_state)


async def _probe_replication(
    actor: ContinuumActor,
    acting: str,
    state: PairState,
    lag: dict[str, ReplicationLag],
    now: datetime,
) -> float | None:
    """Lag of the standby from ``pg_stat_replication`` on the acting primary, when the CR
    configures the probe; written into ``lag``. ``None``: not configured or not measured
    (a failed probe is never a lag of 0)."""
    probe = actor.collab.replication
    if probe is None:
        return None
    standby = next((h for h in state.halves if h.region != acting and not h.error), None)
    if standby is None:
        return None
    try:
        observation = await with_timeout(actor.clock, READ_TIMEOUT, lambda: probe(acting))
    except (ContinuumError, TimeoutError, OSError) as exc:
        actor.log.warning("replication_probe_failed", error=str(exc))
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
        if failback.gave_up(actor):
            return
        await announce_failback_pending(actor, decision.from_region, decision.to_region)
        failback.awaiting_approval(actor, decision.from_region, decision.to_region)
    elif isinstance(decision, FailbackExpired):
        await failback.approval_timed_out(
            actor, decision.from_region, decision.to_region, decision.waited_seconds
        )
    elif isinstance(decision, RunSwitchover):
        if decision.reason == "failback":
            if not spec.failback.require_approval:  # ungated: still announced first
                await announce_failback_pending(actor, decision.from_region, decision.to_region)
            failback.approval_granted(actor)
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
        elif spec.switchover.requested:
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
            from_request=spec.switchover.requested,
        )


async def announce_failback_pending(
    actor: ContinuumActor, from_region: str, to_region: str
) -> None:
    """Audit ``FAILBACK_PENDING`` once per (generation, direction), remembered in status
    (``failbackAnnounced``) so a restarted instance does not announce it again: the same
    occurrence re-emitted after JetStream's duplicate window would be stored twice."""
    ident = f"{actor.cr.metadata.generation}:{from_region}->{to_region}"
    if actor.status.failback_announced == ident:
        return
    actor.status = msgspec.structs.replace(actor.status, failback_announced=ident)
    actor.log.info("failback_pending", to=to_region)
    await actor.emit(
        AuditType.FAILBACK_PENDING,
        identity=("failback-pending", ident),
        fromPrimary=from_region,
        toPrimary=to_region,
        reason="approval-pending",
        message="failback awaiting operator approval (spec.failback.approved)",
    )
