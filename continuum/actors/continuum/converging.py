"""The shell of the convergence rule (:mod:`continuum.core.converge`): what to read beside
the pair (the DNS records and every region's copy of the route), how each part is read and
written, what disagrees with the lease holder, and what is reported and audited.

The reads and the writes run in the observation's child tasks
(:mod:`~continuum.actors.continuum.background_observation`), never in the mailbox; the
assessment, the decision and the report run in the mailbox, when their results come back.
Reads are bounded (each region's route by its own timeout); a part that cannot be read is
reported as not observed (the pair: as a ``WriterMismatch``; a route: nothing said about
that region's copy), never as agreeing. Each action is re-checked, right before its write,
against the fence (this instance still acts as writer — the held lease within ``ttl - safety
margin`` — and no run is under way), is bounded, and is logged and audited
(``continuum-error``, reason ``converged-<action>``: drift is an anomaly, and unlike the
``reconcile-success`` heartbeat an error is never coalesced under audit back-pressure) with
what was wrong; a failed action is logged and retried at the next observation, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from continuum import metrics
from continuum.actors.continuum.limits import READ_TIMEOUT
from continuum.core import converge as rule
from continuum.core import dns_serving
from continuum.errors import ContinuumError
from continuum.messages.audit import AuditType
from continuum.messages.dns import LuaRecord
from continuum.messages.status import COND_CONVERGED, COND_DNS_SERVES_HOLDER
from continuum.messages.switchover import ObjectRef, Plan, RouteState
from continuum.ports import DnsRecordCheck, TrafficRoutes
from continuum.switchover.from_spec import plan_from_spec
from continuum.switchover.lua import probe_url_for
from continuum.switchover.lua import synthesize as lua_synthesize
from continuum.switchover.plan import lua_params
from continuum.switchover.timeouts import with_timeout

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor
    from continuum.actors.continuum.env import Collaborators
    from continuum.actors.continuum.messages import WorldReads

__all__ = [
    "WorldQuery",
    "WorldView",
    "assess_world",
    "converged",
    "current_disagreement",
    "current_read_disagreement",
    "current_unobserved",
    "read_answers",
    "read_dns",
    "read_route",
    "report_repaired",
    "serving_fallback",
    "world_holder",
    "world_query",
    "world_tenure",
    "write_world",
]


@dataclass
class WorldView:
    """What the last observation found disagreeing with the holder (empty: it agreed, or
    nothing could be assessed)."""

    mismatches: tuple[rule.Mismatch, ...] = ()
    holder: str = ""
    """The holder the world was assessed against ("": not assessed)."""
    tenure: datetime | None = None
    """That holder's tenure when the observation began (:func:`world_tenure`)."""
    pair_unread: bool = False
    """The pair could not be read at all."""
    observed_at: float | None = None
    """When that observation began (monotonic; ``None``: no observation yet)."""

    def unobserved(self, holder: str, tenure: datetime | None = None) -> bool:
        """Whether the observation against ``holder`` in its ``tenure`` could not read part
        of the world (the pair, another region's Cluster or route, the DNS records): what
        it could not read, the writer could not converge."""
        if not holder or holder != self.holder or tenure != self.tenure:
            return False
        return self.pair_unread or any(m.kind == "Unobserved" for m in self.mismatches)

    def disagreement(self, holder: str, tenure: datetime | None = None) -> str:
        """One line naming every disagreement with ``holder`` in its ``tenure`` ("" when
        none, or when ``holder`` is unknown). A world not yet assessed against ``holder``, or
        assessed in another tenure of it (before it handed the role over and got it back,
        say: what agreed then says nothing of now), is reported as such: agreement is never
        assumed."""
        if not holder:
            return ""
        if holder != self.holder or tenure != self.tenure:
            return f"NotObserved: the world is not yet observed against holder {holder}"
        return "; ".join(f"{m.kind}: {m.detail}" for m in self.mismatches)

    def read_disagreement(self, holder: str, tenure: datetime | None = None) -> str:
        """Like :meth:`disagreement`, of the part of the world the observation could read
        only (no ``Unobserved``, nor the ``WriterMismatch`` of a pair it could not read):
        what the writer can converge while it cannot read the rest ("" when that agrees)."""
        if not holder or holder != self.holder or tenure != self.tenure:
            return ""
        return "; ".join(
            f"{m.kind}: {m.detail}"
            for m in self.mismatches
            if m.kind != "Unobserved" and not (self.pair_unread and m.kind == "WriterMismatch")
        )


def current_disagreement(actor: ContinuumActor) -> str:
    """What the last observation found disagreeing with the holder this instance knows now,
    in its current tenure."""
    holder = world_holder(actor)
    return actor.world.disagreement(holder, world_tenure(actor, holder))


def current_read_disagreement(actor: ContinuumActor) -> str:
    """What the last observation found disagreeing with the holder this instance knows now,
    in its current tenure, in the part of the world it could read."""
    holder = world_holder(actor)
    return actor.world.read_disagreement(holder, world_tenure(actor, holder))


def current_unobserved(actor: ContinuumActor) -> bool:
    """Whether the last observation, against the holder this instance knows now in its
    current tenure, could not read part of the world."""
    holder = world_holder(actor)
    return actor.world.unobserved(holder, world_tenure(actor, holder))


def world_holder(actor: ContinuumActor) -> str:
    """The holder the world is assessed against: this region while it acts as writer, else
    the live holder of the lease last seen ("" when unknown, unreadable or free)."""
    if actor.acting():
        return actor.region
    lease = actor.lease_view
    if actor.witness_error or lease is None or lease.is_free_at(actor.clock.now()):
        return ""
    return lease.holder


def world_tenure(actor: ContinuumActor, holder: str) -> datetime | None:
    """When ``holder``'s tenure began (``acquiredAt`` of the lease held or last seen naming
    it: renewals keep it, an acquisition or a handover starts a new one), ``None`` when
    unknown. An observation counts only for the tenure it was made in (seed 300597: a
    writer handed the role over and got it back, and its deletion let go on what it had
    observed before, its route serving the other region meanwhile)."""
    lease = actor.keeper.lease or actor.lease_view
    if not holder or lease is None or lease.holder != holder:
        return None
    return lease.acquired_at


@dataclass(frozen=True)
class WorldQuery:
    """What one observation reads beside the pair, and against which holder: fixed in the
    mailbox when the observation starts, so the reads (in a child task) need nothing else
    from the actor's state."""

    holder: str
    """"": no live holder known (nothing is assessed)."""
    tenure: datetime | None = None
    """``holder``'s tenure (:func:`world_tenure`)."""
    plan: Plan | None = None
    """The plan converging the world to ``holder`` (its DNS, its route)."""
    records: tuple[str, list[LuaRecord]] | None = None
    """The zone and the records naming ``holder`` (``None``: DNS not configured, or the
    records could not be synthesized)."""
    serving: dns_serving.ServingQuery | None = None
    """What the served answers are judged against (``None``: no records, or no
    authoritative server to ask)."""
    started: float | None = None
    """When the observation began (monotonic)."""


def world_query(actor: ContinuumActor) -> WorldQuery:
    """The query of an observation starting now, against :func:`world_holder`."""
    holder = world_holder(actor)
    started = actor.clock.monotonic()
    if not holder:
        return WorldQuery(holder="", started=started)
    plan = _plan(actor, holder)
    records = _records(actor, plan, holder)
    serving = None
    if records is not None and plan.dns is not None and actor.collab.dns_answers is not None:
        serving = dns_serving.ServingQuery(
            holder=holder,
            region_ips=dict(plan.dns.region_ips),
            hostnames=tuple(plan.dns.hostnames),
            health_url=probe_url_for(lua_params(plan.dns, holder)),
        )
    return WorldQuery(
        holder=holder,
        tenure=world_tenure(actor, holder),
        plan=plan,
        records=records,
        serving=serving,
        started=started,
    )


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


async def read_dns(
    actor: ContinuumActor, collab: Collaborators, query: WorldQuery
) -> tuple[tuple[str, ...] | None, str]:
    """The hostnames whose records do not name ``query.holder`` (bounded), and why they
    could not be read: ``(None, "")`` when not configured, ``(None, error)`` when
    unreadable. Reads only; called from a child task."""
    dns = collab.dns
    if not isinstance(dns, DnsRecordCheck) or query.records is None:
        return None, ""
    zone, records = query.records
    try:
        wrong = await with_timeout(actor.clock, READ_TIMEOUT, lambda: dns.differing(zone, records))
    except (ContinuumError, TimeoutError) as exc:
        actor.log.warning("dns_unreadable", error=str(exc))
        return None, str(exc) or type(exc).__name__
    return tuple(wrong), ""


async def read_answers(
    actor: ContinuumActor, collab: Collaborators, query: WorldQuery
) -> tuple[dns_serving.ServedAnswer, ...] | None:
    """What the authoritative servers answer for ``query``'s hostnames (bounded; ``None``:
    not observed, or not answered within ``READ_TIMEOUT``). Reads only; called from a child
    task."""
    answers = collab.dns_answers
    if answers is None or query.serving is None:
        return None
    hostnames = query.serving.hostnames
    try:
        return tuple(await with_timeout(actor.clock, READ_TIMEOUT, lambda: answers(hostnames)))
    except TimeoutError:
        actor.log.warning("dns_answers_unread", error="timed out")
        return None


async def read_route(
    actor: ContinuumActor, region: str, routes: TrafficRoutes, route: ObjectRef
) -> RouteState | None:
    """``region``'s copy of ``route``: its weights and the record of its last emptying drain
    (bounded; ``None``: unreadable). Reads only; called from a child task."""
    try:
        return await with_timeout(actor.clock, READ_TIMEOUT, partial(routes.read_state, route))
    except (ContinuumError, TimeoutError) as exc:
        actor.log.warning("route_unreadable", route_region=region, error=str(exc))
        return None


def assess_world(
    actor: ContinuumActor, query: WorldQuery, reads: WorldReads, *, decide: bool
) -> tuple[list[rule.Converge], tuple[rule.Mismatch, ...]]:
    """Assess ``reads`` against the holder they were made for, record the result in
    ``actor.world`` (the phase and the ``Converged`` condition follow from it) and, with
    ``decide``, return the actions the rule decides under the fences as they are *now*
    (this instance acting, no run, no open journal), with the mismatches they answer.
    No I/O."""
    holder = query.holder
    if not holder:
        _report(actor, (), holder, None, observed_at=query.started)
        return [], ()
    world = _world(actor, holder, reads)
    mismatches = rule.assess(world)
    pair_unread = reads.pair is None and bool(reads.pair_error)
    if pair_unread:
        mismatches = (
            rule.Mismatch(kind="WriterMismatch", detail=f"pair unreadable: {reads.pair_error}"),
            *mismatches,
        )
    seen = actor.world
    same = seen.holder == holder and seen.tenure == query.tenure
    previous = frozenset(m.key for m in seen.mismatches if same)
    _report(
        actor, mismatches, holder, query.tenure, pair_unread=pair_unread, observed_at=query.started
    )
    _judge_serving(actor, query, reads)
    if not decide:
        return [], mismatches
    actions = rule.decide(
        world,
        mismatches,
        previous=previous,
        acting_region=actor.region if actor.acting() else "",
        quiet=actor.running is None and actor.status.switchover is None,
    )
    return actions, mismatches


def report_repaired(actor: ContinuumActor, query: WorldQuery, reads: WorldReads) -> None:
    """Report the world as read again after a repair, not as it was before it. An unreadable
    pair leaves the last assessment standing until the next observation. No I/O."""
    if query.holder and not (reads.pair is None and reads.pair_error):
        mismatches = rule.assess(_world(actor, query.holder, reads))
        _report(actor, mismatches, query.holder, query.tenure, observed_at=query.started)


def _world(actor: ContinuumActor, holder: str, reads: WorldReads) -> rule.World:
    return rule.World(
        holder=holder,
        regions=tuple(actor.cr.spec.all_regions()),
        pair=reads.pair,
        dns_wrong=reads.dns_wrong,
        dns_unreadable=bool(reads.dns_error),
        routes=reads.routes,
        route_records=reads.route_records,
    )


def _report(
    actor: ContinuumActor,
    mismatches: tuple[rule.Mismatch, ...],
    holder: str,
    tenure: datetime | None,
    *,
    pair_unread: bool = False,
    observed_at: float | None = None,
) -> None:
    actor.world = WorldView(
        mismatches=mismatches,
        holder=holder,
        tenure=tenure,
        pair_unread=pair_unread,
        observed_at=observed_at,
    )
    metrics.set_world(actor.key, {m.kind for m in mismatches})
    if not holder:
        actor.condition(COND_CONVERGED, "Unknown", "NoHolder", "no live lease holder known")
    elif mismatches:
        actor.condition(
            COND_CONVERGED,
            "False",
            mismatches[0].kind,
            actor.world.disagreement(holder, tenure)[:900],
        )
    else:
        actor.condition(COND_CONVERGED, "True", "Agrees", "the world agrees with the lease holder")


def _judge_serving(actor: ContinuumActor, query: WorldQuery, reads: WorldReads) -> None:
    """Fold what PowerDNS served into ``actor.serving`` (:mod:`continuum.core.dns_serving`)
    and write its verdict as ``DnsServesHolder``; a change is logged. Never a repair: the
    records already agree. No I/O."""
    before = actor.serving
    actor.serving, verdict = dns_serving.decide(
        before,
        query.serving,
        reads.answers,
        records_wrong=reads.dns_wrong,
        run_under_way=actor.running is not None,
    )
    metrics.set_dns_fallback(actor.key, falling_back=actor.serving.falling_back)
    if verdict is None:
        return
    actor.condition(
        COND_DNS_SERVES_HOLDER,
        "True" if verdict.serving else "False",
        verdict.reason,
        verdict.message[:900],
    )
    if actor.serving.reported != before.reported:
        if verdict.serving:
            actor.log.info("dns_serving_holder", holder=query.holder)
        else:
            actor.log.warning("dns_serving_fallback", holder=query.holder, detail=verdict.message)


def serving_fallback(actor: ContinuumActor) -> str:
    """The fallback reported now, as one line ("" when PowerDNS serves the holder, or when
    the holder this instance knows is not the one the answers were judged against)."""
    serving = actor.serving
    if not serving.reported or serving.holder != world_holder(actor):
        return ""
    return "DnsServingFallback: " + ", ".join(
        f"{f.hostname} served {', '.join(f.addresses)}" for f in serving.reported
    )


async def converged(
    actor: ContinuumActor,
    action: rule.Converge,
    mismatches: tuple[rule.Mismatch, ...],
    *,
    error: str,
) -> None:
    """Account for ``action``'s write (``error`` "": made): the metric and the log line,
    and for a write made, the audit event naming what was wrong. Never raises."""
    wrong = "; ".join(f"{m.kind}: {m.detail}" for m in mismatches)
    if error:
        metrics.count_converge(action.action, "failed")
        actor.log.warning("converge_failed", action=action.action, wrong=wrong, error=error)
        return
    metrics.count_converge(action.action, "done")
    actor.log.warning(
        "world_converged",
        action=action.action,
        towards=action.towards,
        demoted=action.region,
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
        message=(
            f"converged to the lease holder {action.towards}"
            + (f" (demoted {action.region}'s Cluster)" if action.region else "")
            + f": {wrong}"
        )[:1000],
    )


async def write_world(
    actor: ContinuumActor, collab: Collaborators, action: rule.Converge, query: WorldQuery
) -> None:
    """Make ``action``'s write, bounded by ``READ_TIMEOUT``. Raises ``ContinuumError`` or
    ``TimeoutError``; the caller checks the fence first. Called from a child task."""
    await with_timeout(actor.clock, READ_TIMEOUT, lambda: _write(collab, action, query))


async def _write(collab: Collaborators, action: rule.Converge, query: WorldQuery) -> None:
    holder = action.towards
    pair, routes = collab.pair, collab.region_routes.get(action.route_region)
    route = query.plan.route if query.plan is not None else None
    match action.action:
        case "promote-holder" if pair is not None:
            if action.distributed:
                await pair.promote(holder, token=action.token)
            else:
                await pair.set_replica_enabled(holder, False)
        case "demote-other" if pair is not None:
            # The only primary is another region's: point it at the holder's Cluster (its
            # demotion token is what promote-holder uses next), or make it a replica.
            if action.distributed:
                await pair.demote(action.region, new_primary=holder)
            else:
                await pair.set_replica_enabled(action.region, True)
        case "unfence-holder" if pair is not None:
            await pair.unfence(holder)
        case "restore-dns":
            if query.records is not None and collab.dns is not None:
                await collab.dns.commit(*query.records)
        case "serve-route" if routes is not None and route is not None and action.weights:
            # The weights recorded before the drain, in one write (they serve the holder).
            await routes.restore(route, dict(action.weights))
        case "serve-route" if routes is not None and route is not None:
            # Serve the holder first: no moment with every backend at 0.
            await routes.shift_to(route, holder)
            for region in action.drain:
                await routes.drain(route, region)
        case _:
            pass
