"""Timer-driven observations whose reads and repair writes run outside the actor's mailbox.

An observation reads the CNPG pair (and the ``pg_stat_replication`` probe), the DNS records
(and what the authoritative servers answer) and every region's copy of the HTTPRoute, each
read bounded by ``READ_TIMEOUT``. Made inside the message handler, a hanging API server (or
pdns API) held the mailbox for several bounds in a row, and every request queued behind it
(``GET /v1/continuums/{ns}/{name}``, issue 13 item 5). Here the reads run in one child task,
concurrently with each other (the pair then its probe; DNS; each region's route), and come
back as one :class:`~continuum.actors.continuum.messages.WorldObserved`. The mailbox then
assesses them and decides, with the pure rules (:mod:`continuum.core.observation`,
:mod:`continuum.core.converge`), under the fences as they are *when the result arrives*: a
run under way, this instance no longer acting, a lease, journal, finished run or spec that
changed while the reads were out — any of these and nothing is written (the assessment is
still reported, against the holder the reads were made for; the next observation reads
again). What the rules decide to write (demoting a stale primary, promoting or unfencing the
holder's Cluster, restoring DNS, re-weighting a route, touching the managed-role Secrets after
a change of acting primary) runs in a second child task, each
write re-checking the fence (acting, no run) right before it is made; it ends with the world
read again, and :class:`~continuum.actors.continuum.messages.WorldRepaired` brings the
outcome back, to be logged, audited and reported from the mailbox. Meanwhile the actor
answers requests from its state and keeps renewing.

Observations ride on the renewal tick (``RenewDue(observe=True)``, one repeating timer per
actor at ``renewSeconds``): each tick refreshes the lease, then observes.

Guarantees: at most one observation in flight per actor, from its tick until its last write
is over (a tick that finds one in flight is skipped: the observation under way is the newer
news); an observation never begins while a timer-driven lease refresh waits on the witness
(the tick waits for that refresh to end, so the observation is made for the holder and the
role the refresh found); a repair write never runs beside a switchover (a run started
meanwhile waits for :meth:`ObservationInFlight.repairs_settled` before its first step, and
no write starts once it is under way), nor after this instance stops acting (a stop and the
lapse fence wait for the write in flight, bounded by ``READ_TIMEOUT``); a child task that
fails unexpectedly crashes the actor when its message arrives, as a failure in the handler
did. The start-up observation (:func:`observe_now`) reads in place and decides nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from continuum.actors.continuum import stale
from continuum.actors.continuum.converging import (
    WorldQuery,
    assess_world,
    converged,
    read_answers,
    read_dns,
    read_route,
    report_repaired,
    world_holder,
    world_query,
    write_world,
)
from continuum.actors.continuum.limits import READ_TIMEOUT
from continuum.actors.continuum.messages import (
    FenceRetryDue,
    Repaired,
    WorldObserved,
    WorldReads,
    WorldRepaired,
)
from continuum.actors.continuum.observation import pair_configured, pair_observed, read_pair
from continuum.actors.continuum.role_reassert import decide_touch, roles_touched, touch_roles
from continuum.core import converge as world_rule
from continuum.core import observation as pair_rule
from continuum.core.dns_serving import ServedAnswer
from continuum.core.roles import TouchRoleSecrets
from continuum.errors import ContinuumError
from continuum.messages.replication import ReplicationObservation
from continuum.messages.switchover import ObjectRef, PairState, RouteState

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor
    from continuum.actors.continuum.env import Collaborators

__all__ = [
    "ObservationInFlight",
    "begin_observation",
    "observe_now",
    "world_observed",
    "world_repaired",
]

Write = pair_rule.Converge | world_rule.Converge | TouchRoleSecrets


@dataclass(frozen=True)
class _Cycle:
    """One observation, from its tick to its last write."""

    seq: int
    fence: tuple[object, ...]
    """What must not have changed between the reads and a write (:func:`_fence`)."""
    query: WorldQuery
    writer: str
    """The writer whose half the probe measured (``acting_primary`` at the start)."""
    writes: tuple[Write, ...] = ()
    mismatches: tuple[world_rule.Mismatch, ...] = ()


class _Repairing:
    """The repair writes under way: ``done`` is set when they are over; once ``halted``, no
    further write starts."""

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.halted = False


class ObservationInFlight:
    """The observation under way, if any, and the repair writes it is making."""

    def __init__(self) -> None:
        self.cycle: _Cycle | None = None
        self.seq = 0
        self._repairing: _Repairing | None = None
        self.fence_failures = 0
        """Rounds in a row whose demotion of a second primary failed
        (:func:`continuum.core.observation.fence_retry`)."""
        self.deferred = False
        """An observation tick came while a lease refresh waited on the witness: it starts
        once that refresh is over (the refresh may change the holder or this instance's
        role; an observation begun before would decide on the old ones)."""

    @property
    def busy(self) -> bool:
        """An observation is in flight (its reads or its writes)."""
        return self.cycle is not None

    @property
    def repairing(self) -> bool:
        """An observation's repair writes are under way."""
        return self._repairing is not None and not self._repairing.done.is_set()

    async def repairs_settled(self) -> None:
        """Return once no repair write is being made; no further write of the repair under
        way starts after this is called, so at most the write already in flight is waited
        for (bounded by ``READ_TIMEOUT``)."""
        repairing = self._repairing
        if repairing is not None:
            repairing.halted = True
            await repairing.done.wait()


def _fence(actor: ContinuumActor) -> tuple[object, ...]:
    """The holder and its tenure (the generation moves on with every renewal; the tenure's
    start only with a new acquisition or a handover), this instance acting, the run, the
    journal, the last run, the spec."""
    status = actor.status
    lease = actor.keeper.lease or actor.lease_view
    return (
        world_holder(actor),
        (lease.holder, lease.acquired_at) if lease is not None else None,
        actor.acting(),
        actor.running.id if actor.running is not None else "",
        status.switchover.id if status.switchover is not None else "",
        status.last_switchover.id if status.last_switchover is not None else "",
        actor.cr.metadata.generation,
    )


def begin_observation(actor: ContinuumActor) -> WorldObserved | None:
    """Start an observation: its reads run in a child task and come back as
    ``WorldObserved``. An observation with nothing to read (no pair configured and no live
    holder known) starts no task: its ``WorldObserved`` is returned at once, for the caller
    to take as it would the child's. Returns ``None`` otherwise, and does nothing when one
    is already in flight."""
    flight = actor.observing
    if flight.cycle is not None:
        return None
    flight.seq += 1
    seq = flight.seq
    cycle = flight.cycle = _Cycle(
        seq=seq, fence=_fence(actor), query=world_query(actor), writer=actor.acting_primary()
    )
    collab = actor.collab
    with_pair = pair_configured(actor)
    if not with_pair and not cycle.query.holder:
        return WorldObserved(seq=seq, reads=WorldReads())

    async def observe() -> WorldReads:
        return await _read(actor, collab, cycle.query, cycle.writer, pair=with_pair, probe=True)

    actor.ctx.start_child(
        observe,
        on_result=lambda reads: WorldObserved(seq=seq, reads=reads),
        on_error=lambda exc: WorldObserved(seq=seq, reads=None, error=_text(exc)),
        name="observe",
    )
    return None


async def observe_now(actor: ContinuumActor) -> None:
    """The start-up observation: read the world in place and report it against the holder
    (the first status written reports the world as observed), without the streaks, the lag
    probe or any action."""
    query = world_query(actor)
    writer = actor.acting_primary()
    reads = await _read(
        actor, actor.collab, query, writer, pair=pair_configured(actor), probe=False
    )
    assess_world(actor, query, reads, decide=False)


async def world_observed(actor: ContinuumActor, message: WorldObserved) -> bool:
    """Take an observation's reads: the pair rule, the world's assessment and report, and
    the writes they decide, started in a child task when the fence still holds. Returns
    ``True`` when the observation is over (no write to make), ``False`` while its writes
    are under way (or for a message of no current observation). Raises ``RuntimeError``
    when the reads failed unexpectedly."""
    flight = actor.observing
    cycle = flight.cycle
    if cycle is None or cycle.seq != message.seq:
        return False
    if message.reads is None:
        flight.cycle = None
        raise RuntimeError(f"observation failed: {message.error}")
    reads = message.reads
    stale_halves: list[pair_rule.Converge] = []
    if reads.pair is not None or reads.pair_error:
        stale_halves = pair_observed(actor, reads, probed_writer=cycle.writer)
    actions, mismatches = assess_world(actor, cycle.query, reads, decide=True)
    touch = decide_touch(actor, reads.pair) if reads.pair is not None else None
    writes: tuple[Write, ...] = (*stale_halves, *actions, *([touch] if touch else []))
    if not writes:
        flight.cycle = None
        return True
    if _fence(actor) != cycle.fence:
        # The world may have moved while it was read: never act on it; look again next time.
        actor.log.info("observation_outdated", writes=[_name(w) for w in writes])
        flight.cycle = None
        return True
    cycle = flight.cycle = _Cycle(
        seq=cycle.seq,
        fence=cycle.fence,
        query=cycle.query,
        writer=cycle.writer,
        writes=writes,
        mismatches=mismatches,
    )
    repairing = flight._repairing = _Repairing()
    collab = actor.collab
    with_pair = pair_configured(actor)

    async def repair() -> WorldRepaired:
        try:
            return await _repair(actor, collab, cycle, repairing, with_pair=with_pair)
        finally:
            repairing.done.set()

    actor.ctx.start_child(
        repair,
        on_result=lambda done: done,
        on_error=lambda exc: WorldRepaired(seq=cycle.seq, error=_text(exc)),
        name="converge",
    )
    return False


async def world_repaired(actor: ContinuumActor, message: WorldRepaired) -> bool:
    """Take an observation's repair outcome: log each write, audit each one made, report
    the world as read again. Returns ``True`` when it ends the current observation. Raises
    ``RuntimeError`` when the repair failed unexpectedly."""
    flight = actor.observing
    cycle = flight.cycle
    if cycle is None or cycle.seq != message.seq:
        return False
    flight.cycle = None
    flight._repairing = None
    if message.error:
        raise RuntimeError(f"observation repair failed: {message.error}")
    _retry_fence(actor, message)
    for done in message.done:
        if isinstance(done.action, pair_rule.Converge):
            outcome = done.error or "demoted"
            actor.log.warning("stale_primary_demoted", stale=done.action.region, outcome=outcome)
        elif isinstance(done.action, TouchRoleSecrets):
            roles_touched(actor, done.action, touched=done.touched, error=done.error)
        else:
            await converged(actor, done.action, cycle.mismatches, error=done.error)
    if message.after is not None:
        report_repaired(actor, cycle.query, message.after)
    return True


def _retry_fence(actor: ContinuumActor, message: WorldRepaired) -> None:
    """A demotion of a second primary that failed is tried again by an early observation
    (:func:`continuum.core.observation.fence_retry`); one that landed starts the backoff
    over."""
    demotions = [d for d in message.done if _demotes(d.action)]
    if not demotions:
        return
    flight = actor.observing
    flight.fence_failures, delay = pair_rule.fence_retry(
        flight.fence_failures,
        failed=any(d.error for d in demotions),
        cap=actor.renew_seconds,
    )
    if delay is not None:
        actor.ctx.start_timer("fence-retry", delay, FenceRetryDue(), repeat=False)


def _demotes(write: Write) -> bool:
    """A write demoting a half beside the holder's (a stale primary, or the other region's
    only primary while the holder's half is a replica)."""
    return isinstance(write, pair_rule.Converge) or (
        isinstance(write, world_rule.Converge) and write.action == "demote-other"
    )


async def _read(
    actor: ContinuumActor,
    collab: Collaborators,
    query: WorldQuery,
    writer: str,
    *,
    pair: bool,
    probe: bool,
) -> WorldReads:
    """Every read of one observation, concurrently, each bounded on its own."""
    pair_read: tuple[PairState | None, str, ReplicationObservation | None] = (None, "", None)
    dns_wrong: tuple[str, ...] | None = None
    dns_error = ""
    answers: tuple[ServedAnswer, ...] | None = None
    routes: dict[str, RouteState | None] = {}

    async def the_pair() -> None:
        nonlocal pair_read
        pair_read = await read_pair(actor, collab, writer=writer, probe=probe)

    async def the_dns() -> None:
        nonlocal dns_wrong, dns_error
        dns_wrong, dns_error = await read_dns(actor, collab, query)

    async def the_answers() -> None:
        nonlocal answers
        answers = await read_answers(actor, collab, query)

    async def one_route(region: str, route: ObjectRef) -> None:
        routes[region] = await read_route(actor, region, collab.region_routes[region], route)

    route = query.plan.route if query.plan is not None else None
    # Only the reads configured for this CR (one that is not would answer "not observed" at
    # once): most CRs of a large fleet configure few, and a task per read is what costs.
    reads: list[Callable[[], Coroutine[Any, Any, None]]] = []
    if pair:
        reads.append(the_pair)
    if query.holder:
        if collab.dns is not None and query.records is not None:
            reads.append(the_dns)
        if collab.dns_answers is not None and query.serving is not None:
            reads.append(the_answers)
        if route is not None:
            reads.extend(partial(one_route, region, route) for region in collab.region_routes)
    if len(reads) == 1:
        await reads[0]()
    elif reads:
        async with anyio.create_task_group() as tg:
            for one_read in reads:
                tg.start_soon(one_read)
    state, pair_error, sample = pair_read
    return WorldReads(
        pair=state,
        pair_error=pair_error,
        probe=sample,
        dns_wrong=dns_wrong,
        dns_error=dns_error,
        answers=answers,
        routes={
            region: (read.weights if (read := routes[region]) is not None else None)
            for region in collab.region_routes
            if region in routes
        },
        route_records={
            region: read.before_drain
            for region in collab.region_routes
            if (read := routes.get(region)) is not None and read.before_drain is not None
        },
    )


async def _repair(
    actor: ContinuumActor,
    collab: Collaborators,
    cycle: _Cycle,
    repairing: _Repairing,
    *,
    with_pair: bool,
) -> WorldRepaired:
    """Make ``cycle.writes`` in order, each only while the fence holds, then read the world
    again when a write of it was made."""
    done: list[Repaired] = []
    for write in cycle.writes:
        if repairing.halted or not actor.acting() or actor.running is not None:
            break  # the fence: never write without acting, never beside a run
        if isinstance(write, pair_rule.Converge):
            assert collab.pair is not None
            outcome = await stale.converge(
                collab.pair, write, clock=actor.clock, timeout=READ_TIMEOUT
            )
            done.append(Repaired(action=write, error="" if outcome == "demoted" else outcome))
            continue
        if isinstance(write, TouchRoleSecrets):
            try:
                touched = await touch_roles(actor, collab, write)
            except (ContinuumError, TimeoutError) as exc:
                done.append(Repaired(action=write, error=str(exc) or type(exc).__name__))
                continue
            done.append(Repaired(action=write, touched=touched))
            continue
        try:
            await write_world(actor, collab, write, cycle.query)
        except (ContinuumError, TimeoutError) as exc:
            done.append(Repaired(action=write, error=str(exc) or repr(exc)))
            continue
        done.append(Repaired(action=write))
    after = None
    if any(isinstance(d.action, world_rule.Converge) and not d.error for d in done):
        after = await _read(actor, collab, cycle.query, cycle.writer, pair=with_pair, probe=False)
    return WorldRepaired(seq=cycle.seq, done=tuple(done), after=after)


def _name(write: Write) -> str:
    return "touch-role-secrets" if isinstance(write, TouchRoleSecrets) else write.action


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
