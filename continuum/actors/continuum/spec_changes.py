"""How a ContinuumActor takes its CR's spec: announce the CR once, detect switchover-relevant
drift, and apply a changed spec (a new witness client, new timers, new collaborators).

Plain functions over the actor, called from its message handling only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from continuum.actors.continuum import view
from continuum.actors.continuum.env import OpenOnUse
from continuum.actors.continuum.finalizing import release_when_idle
from continuum.actors.continuum.keeper import LeaseKeeper
from continuum.actors.continuum.leasing import refresh_lease
from continuum.actors.continuum.limits import READ_TIMEOUT
from continuum.actors.continuum.observation import evaluate_triggers
from continuum.core import spec_change
from continuum.core.spec_change import witness_signature
from continuum.errors import WitnessError
from continuum.messages.audit import AuditType
from continuum.messages.crd import Continuum
from continuum.messages.status import COND_SPEC_VALID
from continuum.switchover.lag import LagBreachTracker
from continuum.switchover.timeouts import with_timeout

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor

__all__ = ["announce_created", "check_drift", "spec_observed", "witness_signature"]


async def spec_observed(actor: ContinuumActor, cr: Continuum) -> None:
    """Adopt ``cr`` as the current spec (valid by the time it arrives): the witness client is
    rebuilt when its identity changed and no run is under way, then drift, triggers and
    status follow. A CR now being deleted with nothing in flight is let go
    (``finalizing.py``)."""
    old = actor.cr
    actor.cr = cr
    actor.finalizer_held = actor.finalizer_held or cr.finalized_by_us
    actor.spec_error = None
    actor.condition(COND_SPEC_VALID, "True", "Valid", "spec is valid")
    actor.dryrun_cache.clear()
    change = spec_change.spec_changed(
        old=old, new=cr, witness_sig=actor.witness_sig, run_under_way=actor.running is not None
    )
    if change.rebuild_witness:
        await _rebuild_witness(actor, cr)
    if change.restart_timers:
        actor.start_timers()
    actor.collab = actor.env.collaborators_for(cr)
    actor.lag_tracker = LagBreachTracker.from_spec(cr.spec)
    await check_drift(actor)
    await evaluate_triggers(actor)
    await actor.flush()
    await release_when_idle(actor)


async def _rebuild_witness(actor: ContinuumActor, cr: Continuum) -> None:
    actor.log.info("witness_rebuilt", kind=cr.spec.lease_client.kind)
    if actor.keeper.holding:
        try:
            await with_timeout(actor.clock, READ_TIMEOUT, actor.keeper.release)
        except (WitnessError, TimeoutError) as exc:
            actor.log.warning("lease_release_failed", error=str(exc))
    old = actor.witness
    actor.witness = OpenOnUse(lambda: actor.env.witness_for(cr))
    actor.witness_sig = witness_signature(cr)
    actor.keeper = LeaseKeeper(
        witness=actor.witness, key=actor.key, region=actor.region, clock=actor.clock
    )
    actor.lease_view = None
    try:
        await old.aclose()
    except Exception as exc:
        actor.log.warning("witness_close_failed", error=str(exc))
    await refresh_lease(actor)


async def announce_created(actor: ContinuumActor) -> None:
    """Audit ``CR_CREATED`` once per CR uid (remembered in status across restarts), as
    :func:`continuum.core.spec_change.created` decides."""
    announce = spec_change.created(
        announced=actor.status.cr_created_announced,
        uid=actor.cr.metadata.uid or actor.key,
        spec=actor.cr.spec,
    )
    if announce is None:
        return
    await actor.emit(
        AuditType.CR_CREATED,
        identity=announce.identity,
        toPrimary=announce.to_primary,
        reason="cr-observed",
        message=announce.message,
    )
    actor.status = msgspec.structs.replace(actor.status, cr_created_announced=announce.uid)


async def check_drift(actor: ContinuumActor) -> None:
    """Record the spec fingerprint; audit ``CONFIG_CHANGED`` when it differs from the one
    status remembers (:func:`continuum.core.spec_change.drift`)."""
    current = view.spec_fingerprint(actor.cr.spec)
    changed = spec_change.drift(
        previous=actor.status.spec_fingerprint, current=current, spec=actor.cr.spec
    )
    if changed is not None:
        actor.log.info("config_changed", previous=changed.previous, current=changed.current)
        await actor.emit(
            AuditType.CONFIG_CHANGED,
            identity=changed.identity,
            toPrimary=changed.to_primary,
            reason="config-drift",
            message=changed.message,
        )
    actor.status = msgspec.structs.replace(actor.status, spec_fingerprint=current)
