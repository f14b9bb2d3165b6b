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

__all__ = ["lease_snapshot", "refresh_lease", "stop_and_release"]


def lease_snapshot(actor: ContinuumActor) -> rule.LeaseState:
    """The core's lease state with what the shell owns filled in: the keeper's held lease
    (a running switchover writes through it too), the timing from the spec, and who is
    designated to hold a free lease."""
    keeper = actor.keeper
    return msgspec.structs.replace(
        actor.lease_state,
        held=keeper.lease,
        last_renewed=keeper.last_renewed,
        ttl=actor.ttl,
        safety_margin=actor.env.safety_margin_seconds,
        designated=actor.status.acting_primary or actor.cr.spec.primary_region,
        primary_region=actor.cr.spec.primary_region,
        run_under_way=actor.running is not None,
    )


async def refresh_lease(actor: ContinuumActor, *, startup: bool = False) -> None:
    """One refresh of the lease (renew as holder, read as standby, adopt or claim), decided by
    :func:`continuum.core.lease.decide` and carried out here."""
    clock = actor.clock
    state = lease_snapshot(actor)
    event: rule.Event | None = rule.RefreshDue(now=clock.monotonic(), wall=clock.now())
    while event is not None:
        state, effects = rule.decide(state, event)
        actor.lease_state = state
        event = None
        for effect in effects:
            event = await _carry(actor, effect) or event
    metrics.set_lease_held(actor.key, actor.acting())
    if actor.acting():
        actor.status = msgspec.structs.replace(actor.status, acting_primary=actor.region)


async def _carry(actor: ContinuumActor, effect: rule.Effect) -> rule.Event | None:
    match effect:
        case rule.CallWitness():
            return await _call_witness(actor, effect)
        case rule.Emit(type=type_, identity=identity, fields=fields):
            await actor.emit(type_, identity=identity, **fields)
        case rule.Log(level=level, event=name, fields=fields):
            getattr(actor.log, level)(name, **fields)
        case rule.SetTimer(name=name, delay=delay):
            actor.ctx.start_timer(name, delay, RenewDue())
        case rule.CancelTimer(name=name):
            actor.ctx.cancel_timer(name)
    return None


async def _call_witness(actor: ContinuumActor, call: rule.CallWitness) -> rule.Event:
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


async def stop_and_release(actor: ContinuumActor) -> None:
    """Release the held lease unless a switchover is running (its journal must be able to
    resume under it), then stop the actor. A failed release is logged, never raised."""
    if actor.running is None and actor.keeper.holding:
        try:
            await with_timeout(actor.clock, READ_TIMEOUT, actor.keeper.release)
            actor.log.info("lease_released")
        except (WitnessError, TimeoutError) as exc:
            actor.log.warning("lease_release_failed", error=str(exc))
    actor.ctx.stop()
