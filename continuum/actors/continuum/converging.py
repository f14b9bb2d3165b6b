"""The shell of the convergence rule (:mod:`continuum.core.converge`): observe the DNS
records and every region's copy of the route beside the pair, report what disagrees with the
lease holder, and carry out the actions the rule decides.

Called from the actor's observation (``ObserveDue``) only. Reads are bounded (each region's
route by its own timeout); a part that cannot be read is reported as not observed (the pair:
as a ``WriterMismatch``; a route: nothing said about that region's copy), never as
agreeing. Each action re-checks, right before its write, that this instance still acts as
writer (the fencing rule: the held lease within ``ttl - safety margin``), is bounded, and is
logged and audited (``continuum-error``, reason ``converged-<action>``: drift is an anomaly,
and unlike the ``reconcile-success`` heartbeat an error is never coalesced under audit
back-pressure) with what was wrong; a failed action is logged and retried at the next
observation, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from continuum import metrics
from continuum.actors.continuum.limits import READ_TIMEOUT
from continuum.core import converge as rule
from continuum.errors import ContinuumError
from continuum.messages.audit import AuditType
from continuum.messages.dns import LuaRecord
from continuum.messages.status import COND_CONVERGED
from continuum.messages.switchover import PairState, Plan
from continuum.ports import DnsRecordCheck
from continuum.switchover.from_spec import plan_from_spec
from continuum.switchover.lua import synthesize as lua_synthesize
from continuum.switchover.plan import lua_params
from continuum.switchover.timeouts import with_timeout

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor

__all__ = ["WorldView", "converge_world", "current_disagreement"]


@dataclass
class WorldView:
    """What the last observation found disagreeing with the holder (empty: it agreed, or
    nothing could be assessed)."""

    mismatches: tuple[rule.Mismatch, ...] = ()
    holder: str = ""
    """The holder the world was assessed against ("": not assessed)."""

    def disagreement(self, holder: str) -> str:
        """One line naming every disagreement with ``holder`` ("" when none, or when
        ``holder`` is unknown). A world not yet assessed against ``holder`` is reported as
        such: agreement is never assumed."""
        if not holder:
            return ""
        if holder != self.holder:
            return f"NotObserved: the world is not yet observed against holder {holder}"
        return "; ".join(f"{m.kind}: {m.detail}" for m in self.mismatches)


def current_disagreement(actor: ContinuumActor) -> str:
    """What the last observation found disagreeing with the holder this instance knows now."""
    return actor.world.disagreement(_holder(actor))


def _holder(actor: ContinuumActor) -> str:
    if actor.acting():
        return actor.region
    lease = actor.lease_view
    if actor.witness_error or lease is None or lease.is_free_at(actor.clock.now()):
        return ""
    return lease.holder


def _plan(actor: ContinuumActor, holder: str) -> Plan:
    return plan_from_spec(
        actor.cr,
        from_region=holder,
        to_region=holder,
        reason="converge",
        initiated_by="continuum",
        epoch=actor.epoch,
    )


def _records(actor: ContinuumActor, plan: Plan, holder: str) -> tuple[str, list[LuaRecord]] | None:
    if plan.dns is None or actor.collab.dns is None:
        return None
    try:
        records = lua_synthesize(lua_params(plan.dns, holder))
    except (ContinuumError, ValueError) as exc:
        actor.log.warning("converge_records_unavailable", error=str(exc))
        return None
    return plan.dns.zone, records


async def _dns_wrong(actor: ContinuumActor, plan: Plan, holder: str) -> tuple[str, ...] | None:
    dns = actor.collab.dns
    if not isinstance(dns, DnsRecordCheck):
        return None
    wanted = _records(actor, plan, holder)
    if wanted is None:
        return None
    zone, records = wanted
    try:
        return tuple(
            await with_timeout(actor.clock, READ_TIMEOUT, lambda: dns.differing(zone, records))
        )
    except (ContinuumError, TimeoutError) as exc:
        actor.log.warning("dns_unreadable", error=str(exc))
        return None


async def _routes(actor: ContinuumActor, plan: Plan) -> dict[str, dict[str, int] | None]:
    """Each reachable region's route weights, ``None`` for a copy that could not be read."""
    ref = plan.route
    if ref is None:
        return {}
    found: dict[str, dict[str, int] | None] = {}
    for region, routes in actor.collab.region_routes.items():
        try:
            found[region] = await with_timeout(
                actor.clock, READ_TIMEOUT, partial(routes.read_weights, ref)
            )
        except (ContinuumError, TimeoutError) as exc:
            actor.log.warning("route_unreadable", route_region=region, error=str(exc))
            found[region] = None
    return found


async def converge_world(
    actor: ContinuumActor, pair: PairState | None, *, pair_error: str = ""
) -> None:
    """One observation of the world beside ``pair`` (``None``: not configured, or
    unreadable with ``pair_error``): assess it against the holder, record the result in
    ``actor.world`` (the phase and the ``Converged`` condition follow from it), and carry
    out what the rule decides."""
    holder = _holder(actor)
    if not holder:
        _report(actor, (), holder)
        return
    plan = _plan(actor, holder)
    world = rule.World(
        holder=holder,
        regions=tuple(actor.cr.spec.all_regions()),
        pair=pair,
        dns_wrong=await _dns_wrong(actor, plan, holder),
        routes=await _routes(actor, plan),
    )
    mismatches = rule.assess(world)
    if pair is None and pair_error:
        mismatches = (
            rule.Mismatch(kind="WriterMismatch", detail=f"pair unreadable: {pair_error}"),
            *mismatches,
        )
    previous = frozenset(m.key for m in actor.world.mismatches if actor.world.holder == holder)
    _report(actor, mismatches, holder)
    actions = rule.decide(
        world,
        mismatches,
        previous=previous,
        acting_region=actor.region if actor.acting() else "",
        quiet=actor.running is None and actor.status.switchover is None,
    )
    done = [await _carry(actor, action, plan, mismatches) for action in actions]
    if any(done):
        # Report the world as it is after the repair, not as it was before it.
        await _reassess(actor, plan, holder)


async def _reassess(actor: ContinuumActor, plan: Plan, holder: str) -> None:
    pair: PairState | None = None
    port = actor.collab.pair
    if port is not None and actor.cr.spec.switchover.mechanism == "cnpg-pair":
        try:
            pair = await with_timeout(actor.clock, READ_TIMEOUT, port.read_pair)
        except (ContinuumError, TimeoutError) as exc:
            actor.log.warning("pair_unreadable", error=str(exc))
            return  # the last assessment stands until the next observation
    world = rule.World(
        holder=holder,
        regions=tuple(actor.cr.spec.all_regions()),
        pair=pair,
        dns_wrong=await _dns_wrong(actor, plan, holder),
        routes=await _routes(actor, plan),
    )
    _report(actor, rule.assess(world), holder)


def _report(actor: ContinuumActor, mismatches: tuple[rule.Mismatch, ...], holder: str) -> None:
    actor.world = WorldView(mismatches=mismatches, holder=holder)
    metrics.set_world(actor.key, {m.kind for m in mismatches})
    if not holder:
        actor.condition(COND_CONVERGED, "Unknown", "NoHolder", "no live lease holder known")
    elif mismatches:
        actor.condition(
            COND_CONVERGED, "False", mismatches[0].kind, actor.world.disagreement(holder)[:900]
        )
    else:
        actor.condition(COND_CONVERGED, "True", "Agrees", "the world agrees with the lease holder")


async def _carry(
    actor: ContinuumActor,
    action: rule.Converge,
    plan: Plan,
    mismatches: tuple[rule.Mismatch, ...],
) -> bool:
    """Carry ``action`` out; whether it was written."""
    wrong = "; ".join(f"{m.kind}: {m.detail}" for m in mismatches)
    if not actor.acting() or actor.running is not None:
        return False  # the fence: never write without acting, never beside a run
    try:
        await with_timeout(actor.clock, READ_TIMEOUT, lambda: _write(actor, action, plan))
    except (ContinuumError, TimeoutError) as exc:
        metrics.count_converge(action.action, "failed")
        actor.log.warning(
            "converge_failed", action=action.action, wrong=wrong, error=str(exc) or repr(exc)
        )
        return False
    metrics.count_converge(action.action, "done")
    actor.log.warning(
        "world_converged",
        action=action.action,
        towards=action.towards,
        route_region=action.route_region,
        wrong=wrong,
    )
    await actor.emit(
        AuditType.ERROR,
        identity=(
            "converge",
            action.action,
            action.towards,
            action.route_region,
            actor.epoch,
            str(actor.clock.now()),
        ),
        toPrimary=action.towards,
        reason=f"converged-{action.action}",
        message=f"converged to the lease holder {action.towards}: {wrong}"[:1000],
    )
    return True


async def _write(actor: ContinuumActor, action: rule.Converge, plan: Plan) -> None:
    holder = action.towards
    pair, routes = actor.collab.pair, actor.collab.region_routes.get(action.route_region)
    match action.action:
        case "promote-holder" if pair is not None:
            if action.distributed:
                await pair.promote(holder, token=action.token)
            else:
                await pair.set_replica_enabled(holder, False)
        case "unfence-holder" if pair is not None:
            await pair.unfence(holder)
        case "restore-dns":
            wanted = _records(actor, plan, holder)
            if wanted is not None and actor.collab.dns is not None:
                await actor.collab.dns.commit(*wanted)
        case "serve-route" if routes is not None and plan.route is not None:
            # Serve the holder first: no moment with every backend at 0.
            await routes.shift_to(plan.route, holder)
            for region in action.drain:
                await routes.drain(plan.route, region)
        case _:
            pass
