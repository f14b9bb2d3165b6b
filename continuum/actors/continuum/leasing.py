"""How a ContinuumActor keeps its writer lease: renew as holder, read (and adopt or claim) as
standby, announce what it acquired or lost, release it on a stop.

Plain functions over the actor (called from its message handling only): the lease state
stays on the actor and its :class:`~continuum.actors.continuum.lease.LeaseKeeper`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from continuum import metrics
from continuum.actors.continuum.limits import READ_TIMEOUT
from continuum.actors.continuum.messages import RenewDue
from continuum.errors import LeaseHeldByAnother, LeaseLost, WitnessError
from continuum.messages.audit import AuditType
from continuum.messages.lease import Lease
from continuum.switchover.timeouts import with_timeout

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor

__all__ = ["refresh_lease", "stop_and_release"]


async def refresh_lease(actor: ContinuumActor, *, startup: bool = False) -> None:
    """Renew as holder, or read as standby (adopting a lease the witness gives us)."""
    was_acting = actor.was_acting
    try:
        if actor.keeper.holding:
            await _renew(actor)
        else:
            await _read_and_maybe_claim(actor)
        actor.witness_error = ""
    except (WitnessError, TimeoutError) as exc:
        actor.witness_error = str(exc) or f"witness did not answer within {READ_TIMEOUT:g}s"
        actor.log.warning("witness_unavailable", error=actor.witness_error)
    now_acting = actor.acting()
    actor.was_acting = now_acting
    actor.overdue = actor.keeper.holding and not now_acting
    if now_acting and actor.witness_error and actor.keeper.last_renewed is not None:
        # A renew failed while we still act: re-check exactly when the writer role would
        # lapse, not at the next tick. (Armed only on failure: re-arming it on every
        # successful renew was a measurable cost at 1,000 CRs.)
        lapse = actor.keeper.last_renewed + actor.ttl - actor.env.safety_margin_seconds
        actor.ctx.start_timer("lapse", max(0.0, lapse - actor.clock.monotonic()), RenewDue())
        actor.lapse_armed = True
    elif actor.lapse_armed and not actor.witness_error:
        actor.ctx.cancel_timer("lapse")
        actor.lapse_armed = False
    if was_acting and not now_acting and actor.overdue:
        actor.log.error("writer_role_dropped", reason="renew-overdue", ttl=actor.ttl)
        await actor.emit(
            AuditType.LEASE_LOST,
            identity=("overdue", actor.keeper.lease.generation if actor.keeper.lease else 0),
            fromPrimary=actor.region,
            reason="renew-overdue",
            message="no successful renew within ttl - safety margin; stopped acting as writer",
        )
    metrics.set_lease_held(actor.key, actor.acting())
    if actor.acting():
        actor.status = msgspec.structs.replace(actor.status, acting_primary=actor.region)


async def _renew(actor: ContinuumActor) -> None:
    previous = actor.keeper.lease
    started = actor.clock.monotonic()
    try:
        actor.lease_view = await with_timeout(actor.clock, READ_TIMEOUT, actor.keeper.renew)
    except LeaseLost as exc:
        metrics.observe_renew(actor.clock.monotonic() - started, ok=False)
        actor.log.warning("lease_lost", error=str(exc))
        await actor.emit(
            AuditType.LEASE_LOST,
            identity=("lost", previous.generation if previous else 0),
            fromPrimary=actor.region,
            reason="lease-lost",
            message="lease renew returned LeaseLost; will attempt re-acquire",
        )
        await _claim(actor, reacquire=True)
        return
    except (WitnessError, TimeoutError):
        metrics.observe_renew(actor.clock.monotonic() - started, ok=False)
        raise
    metrics.observe_renew(actor.clock.monotonic() - started, ok=True)


async def _read_and_maybe_claim(actor: ContinuumActor) -> None:
    lease = await with_timeout(actor.clock, READ_TIMEOUT, lambda: actor.witness.read(actor.key))
    actor.lease_view = lease
    now = actor.clock.now()
    if lease.holder == actor.region and not lease.is_free_at(now):
        await with_timeout(actor.clock, READ_TIMEOUT, lambda: actor.keeper.adopt(lease))
        actor.lease_view = actor.keeper.lease
        await _announce_acquired(actor, adopted=True)
        return
    designated = lease.holder or actor.status.acting_primary or actor.cr.spec.primary_region
    if lease.is_free_at(now) and designated == actor.region and actor.running is None:
        await _claim(actor, reacquire=False)


async def _claim(actor: ContinuumActor, *, reacquire: bool) -> None:
    try:
        actor.lease_view = await with_timeout(
            actor.clock, READ_TIMEOUT, lambda: actor.keeper.acquire(actor.ttl)
        )
    except LeaseHeldByAnother as exc:
        actor.lease_view = Lease(key=actor.key, holder=exc.holder, expires_at=exc.expires_at)
        if reacquire:
            actor.log.error("lease_collision", holder=exc.holder)
            await actor.emit(
                AuditType.LEASE_COLLISION,
                identity=("collision", exc.holder, str(exc.expires_at)),
                fromPrimary=actor.cr.spec.primary_region,
                reason="lease-collision",
                message=f"Acquire returned LeaseHeldByAnother (split-brain warning): {exc}",
            )
        return
    await _announce_acquired(actor, adopted=False)


async def _announce_acquired(actor: ContinuumActor, *, adopted: bool) -> None:
    """Log and audit ``LEASE_ACQUIRED`` for the lease the keeper now holds (nothing when it
    holds none)."""
    lease = actor.keeper.lease
    if lease is None:
        return
    actor.log.info("lease_acquired", generation=lease.generation, adopted=adopted)
    await actor.emit(
        AuditType.LEASE_ACQUIRED,
        identity=("acquired", lease.generation),
        toPrimary=actor.region,
        reason="lease-acquire",
        message=f'acquired lease for region "{actor.region}" (gen {lease.generation})',
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
