"""The shell of the lease rule: carries the effects of :mod:`continuum.core.lease` out through
the witness (via the actor's :class:`~continuum.actors.continuum.keeper.LeaseKeeper`), the audit
pump, the log and the actor's timers, and feeds the answers back in; releases the lease on a
stop.

Plain functions over the actor, called from its message handling only. The decisions — renew,
read, adopt, claim, announce, drop the writer role — are all in the core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from continuum import metrics
from continuum.actors.continuum.limits import READ_TIMEOUT
from continuum.actors.continuum.messages import RenewDue
from continuum.core import lease as rule
from continuum.errors import LeaseHeldByAnother, LeaseLost, WitnessError
from continuum.messages.lease import Lease
from continuum.switchover.timeouts import with_timeout

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor

__all__ = [
    "advance",
    "call_witness",
    "lease_snapshot",
    "refresh_lease",
    "renew_for_successor",
    "settled",
    "stop_and_release",
]


def lease_snapshot(actor: ContinuumActor) -> rule.LeaseState:
    """The core's lease state with what the shell owns filled in: the keeper's held lease
    (a running switchover writes through it too), the timing from the spec, and who is
    to take a free lease (:func:`continuum.core.lease.claimant`)."""
    keeper = actor.keeper
    return msgspec.structs.replace(
        actor.lease_state,
        held=keeper.lease,
        last_renewed=keeper.last_renewed,
        ttl=actor.ttl,
        safety_margin=actor.env.safety_margin_seconds,
        designated=actor.status.acting_primary or actor.cr.spec.primary_region,
        observed_primary=actor.observed_primary,
        # observation.pair_configured's rule (importing it would make an import cycle)
        pair_configured=actor.collab.pair is not None
        and actor.cr.spec.switchover.mechanism == "cnpg-pair",
        primary_region=actor.cr.spec.primary_region,
        run_under_way=actor.running is not None,
    )


async def refresh_lease(actor: ContinuumActor, *, startup: bool = False) -> None:
    """One refresh of the lease (renew as holder, read as standby, adopt or claim), decided by
    :func:`continuum.core.lease.decide` and carried out here, witness calls included (the
    caller waits on them; see :mod:`.background_refresh` for the mailbox's own renewals)."""
    clock = actor.clock
    actor.lease_state = lease_snapshot(actor)
    event: rule.Event | None = rule.RefreshDue(now=clock.monotonic(), wall=clock.now())
    while event is not None:
        call = await advance(actor, event)
        event = await call_witness(actor, call) if call is not None else None
    settled(actor)


async def advance(actor: ContinuumActor, event: rule.Event) -> rule.CallWitness | None:
    """Feed ``event`` to the rule and carry out its effects except the witness call, which
    is returned (``None``: the refresh is over)."""
    state, effects = rule.decide(actor.lease_state, event)
    actor.lease_state = state
    call: rule.CallWitness | None = None
    for effect in effects:
        if isinstance(effect, rule.CallWitness):
            call = effect
        else:
            await _carry(actor, effect)
    return call


def settled(actor: ContinuumActor) -> None:
    """The end of a refresh: the metric and the acting primary status remembers."""
    metrics.set_lease_held(actor.key, actor.acting())
    if actor.acting():
        actor.status = msgspec.structs.replace(actor.status, acting_primary=actor.region)


async def _carry(actor: ContinuumActor, effect: rule.Effect) -> None:
    match effect:
        case rule.CallWitness():
            raise AssertionError("witness calls are returned by advance()")
        case rule.Emit(type=type_, identity=identity, fields=fields):
            await actor.emit(type_, identity=identity, **fields)
        case rule.Log(level=level, event=name, fields=fields):
            getattr(actor.log, level)(name, **fields)
        case rule.SetTimer(name=name, delay=delay):
            actor.ctx.start_timer(name, delay, RenewDue())
        case rule.CancelTimer(name=name):
            actor.ctx.cancel_timer(name)


async def call_witness(actor: ContinuumActor, call: rule.CallWitness) -> rule.Event:
    """Make one witness call of the rule, bounded by ``READ_TIMEOUT``; the answer as the
    rule's next event. Touches no actor state but the keeper's (safe from a child task)."""
    clock, keeper = actor.clock, actor.keeper
    started = clock.monotonic()
    lease: Lease
    try:
        if call.op == "renew":
            lease = await with_timeout(clock, READ_TIMEOUT, keeper.renew)
        elif call.op == "read":
            lease = await with_timeout(clock, READ_TIMEOUT, lambda: actor.witness.read(actor.key))
        elif call.op == "adopt":
            assert call.lease is not None
            found = call.lease
            lease = await with_timeout(clock, READ_TIMEOUT, lambda: keeper.adopt(found))
        else:
            lease = await with_timeout(clock, READ_TIMEOUT, lambda: keeper.acquire(actor.ttl))
    except LeaseHeldByAnother as exc:
        return rule.WitnessRefused(
            op=call.op,
            refusal="held-by-another",
            error=str(exc),
            holder=exc.holder,
            expires_at=exc.expires_at,
            now=clock.monotonic(),
            wall=clock.now(),
        )
    except (WitnessError, TimeoutError) as exc:
        if call.op == "renew":
            metrics.observe_renew(clock.monotonic() - started, ok=False)
        lost = isinstance(exc, LeaseLost)
        return rule.WitnessRefused(
            op=call.op,
            refusal="lost" if lost else "unavailable",
            error=str(exc) or f"witness did not answer within {READ_TIMEOUT:g}s",
            now=clock.monotonic(),
            wall=clock.now(),
        )
    if call.op == "renew":
        metrics.observe_renew(clock.monotonic() - started, ok=True)
    return rule.WitnessAnswered(
        op=call.op, lease=lease, started=started, now=clock.monotonic(), wall=clock.now()
    )


async def renew_for_successor(actor: ContinuumActor) -> None:
    """On a stop that hands the CR to another replica of this region (a shard rebalance,
    ``ActorContext.handing_over``): renew the lease once more while this instance still
    acts as its writer, so the successor's actor, which starts only once this stop has
    returned, has a whole TTL to adopt it (``docs/decisions.md`` #32). A lease handed over
    just after a renewal would otherwise keep only what was left of it, less the stops and
    start-ups queued before the successor's.

    The renewal is the compare-and-set every renewal is, under the write gate: nothing once
    the replica is fenced, nothing over a lease that changed since. Nothing for a CR being
    deleted. Bounded by ``READ_TIMEOUT``; never raises (a failure is logged: the successor
    then adopts what is left of the lease, or claims it)."""
    if actor.cr.deleting or not actor.acting():
        return
    try:
        await with_timeout(actor.clock, READ_TIMEOUT, actor.keeper.renew)
    except (WitnessError, TimeoutError) as exc:
        actor.log.warning("lease_handover_renew_failed", error=str(exc) or "timed out")
        return
    actor.log.debug("lease_renewed_for_successor", generation=actor.epoch)


async def stop_and_release(actor: ContinuumActor) -> None:
    """Release the held lease unless a switchover is running (its journal must be able to
    resume under it), then stop the actor. A convergence write in flight is waited for
    first (bounded by ``READ_TIMEOUT``; none starts after). A failed release is logged,
    never raised."""
    if actor.running is None and actor.keeper.holding:
        # A convergence write in flight lands before the lease is let go (bounded).
        await actor.observing.repairs_settled()
        try:
            await with_timeout(actor.clock, READ_TIMEOUT, actor.keeper.release)
            actor.log.info("lease_released")
        except (WitnessError, TimeoutError) as exc:
            actor.log.warning("lease_release_failed", error=str(exc))
    actor.ctx.stop()
