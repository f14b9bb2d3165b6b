"""The shell of :mod:`continuum.core.self_fence`: fencing, demoting or unfencing this
instance's own region's Cluster when it is not (or no longer) the writer.

Cheap in the steady state: the pair is read only while a check is *pending* — from start-up
until the own Cluster has been seen settled, again from the moment the writer role lapses,
and after every refresh that could not reach the witness while not acting (a handover this
instance has not seen may have promoted its Cluster: found by the simulator, seed 6602).
A demotion is carried out only after a second read of the witness made after the
pair was read: a planned switchover hands the lease over before it promotes the new
writer's Cluster, so a Cluster seen primary followed by a lease seen held by another region
is a stale primary, never one just promoted by a handover this instance has not seen yet.

Plain functions over the actor, called from its message handling only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from continuum.actors.continuum.limits import READ_TIMEOUT
from continuum.actors.continuum.stale import converge
from continuum.core import self_fence as rule
from continuum.core.observation import Converge
from continuum.errors import ContinuumError, WitnessError
from continuum.messages.lease import Lease
from continuum.messages.switchover import PairHalf
from continuum.ports import ClusterPair
from continuum.switchover.timeouts import with_timeout

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor

__all__ = ["SelfFence", "after_refresh"]

_DONE = {
    "fence": "own_cluster_fenced",
    "unfence": "own_cluster_unfenced",
    "demote": "own_cluster_demoted",
}


class SelfFence:
    """Per-actor memory of the rule: whether a check is pending, whether this incarnation
    fenced its own Cluster, and whether it acted as writer at the last check."""

    def __init__(self) -> None:
        self.pending = True
        self.fenced_by_us = False
        self.was_acting = False


def _other_holder(actor: ContinuumActor, lease: Lease | None) -> str:
    if actor.witness_error or lease is None or not lease.holder:
        return ""
    return "" if lease.holder == actor.region else lease.holder


async def after_refresh(actor: ContinuumActor) -> None:
    """Run the self-fence rule after a lease refresh (start-up included). Never raises for
    an API or witness failure: the check stays pending and is tried on the next refresh."""
    pair = actor.collab.pair
    if pair is None or actor.cr.spec.switchover.mechanism != "cnpg-pair":
        return
    memo = actor.self_fence
    acting = actor.acting()
    if memo.was_acting and not acting:
        memo.pending = True  # a handover, a lost lease or a lapse: look at the own Cluster
        if actor.keeper.holding and actor.running is None:  # overdue, not handed over
            # The moment the role lapses for want of renewals: fence first, look later.
            lapse = rule.Action(kind="fence", why="renewals overdue")
            # A convergence write in flight (an unfence, say) must not land after the fence:
            # no new one starts now that the role lapsed; the one in flight is bounded.
            await actor.observing.repairs_settled()
            await _apply(actor, pair, memo, lapse, None)
    memo.was_acting = acting
    if not acting and actor.witness_error:
        # Cut off from the witness: a handover this instance never saw may have made its
        # Cluster primary (seed 6602); look, and fence it while nobody is known to hold.
        memo.pending = True
    if not memo.pending:
        return
    try:
        state = await with_timeout(actor.clock, READ_TIMEOUT, pair.read_pair)
    except (ContinuumError, TimeoutError) as exc:
        actor.log.warning("self_fence_pair_unreadable", error=str(exc))
        return
    own = state.half(actor.region)
    action = rule.decide(
        rule.Inputs(
            region=actor.region,
            acting=acting,
            run_under_way=actor.running is not None,
            journal_open=actor.status.switchover is not None,
            own=own,
            other_holder=_other_holder(actor, actor.lease_view),
            fenced_by_us=memo.fenced_by_us,
        )
    )
    if action.kind == "demote":
        action = await _confirm(actor, action)
    await _apply(actor, pair, memo, action, own)


async def _confirm(actor: ContinuumActor, action: rule.Action) -> rule.Action:
    """Re-read the witness after the pair was read: demote only if another region still
    holds the lease (module docstring)."""
    try:
        lease = await with_timeout(actor.clock, READ_TIMEOUT, lambda: actor.witness.read(actor.key))
    except (WitnessError, TimeoutError) as exc:
        return rule.Action(kind="nothing", why=f"witness unreadable: {exc}")
    if lease.holder == action.towards:
        return action
    return rule.Action(kind="nothing", why=f"holder is now {lease.holder or 'nobody'}")


async def _apply(
    actor: ContinuumActor,
    pair: ClusterPair,
    memo: SelfFence,
    action: rule.Action,
    own: PairHalf | None,
) -> None:
    region = actor.region
    try:
        if action.kind == "fence":
            await with_timeout(actor.clock, READ_TIMEOUT, lambda: pair.fence(region))
            memo.fenced_by_us = True
        elif action.kind == "unfence":
            await with_timeout(actor.clock, READ_TIMEOUT, lambda: pair.unfence(region))
            memo.fenced_by_us = False
        elif action.kind == "demote":
            outcome = await converge(
                pair,
                Converge(
                    action="demote-stale-primary",
                    region=region,
                    towards=action.towards,
                    distributed=own is not None and own.distributed,
                ),
                clock=actor.clock,
                timeout=READ_TIMEOUT,
            )
            if outcome != "demoted":
                raise ContinuumError(outcome)
            if own is not None and own.fenced:
                # Rejoined as a replica: the fence that kept it from writing would now keep
                # it from following the writer.
                await with_timeout(actor.clock, READ_TIMEOUT, lambda: pair.unfence(region))
                memo.fenced_by_us = False
    except (ContinuumError, TimeoutError) as exc:
        actor.log.error("self_fence_failed", action=action.kind, why=action.why, error=str(exc))
        return
    if action.kind != "nothing":
        actor.log.warning(
            _DONE[action.kind],
            why=action.why,
            towards=action.towards or None,
            epoch=actor.epoch,
        )
    if action.settled or action.kind == "demote":
        memo.pending = action.kind == "demote"  # look once more: confirm it is a replica now
