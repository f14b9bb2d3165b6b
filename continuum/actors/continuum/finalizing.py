"""The CR's finalizer: held while this instance manages its region's copy of the CR, let go
once a deletion finds nothing in flight (``docs/decisions.md`` #20).

- When the actor starts managing a CR it makes the copy in its own region carry
  :data:`~continuum.messages.crd.FINALIZER`: one write, only when the copy does not carry it
  yet and is not being deleted (the API server refuses new finalizers then). A failed write
  is tried again at the next renewal; a CR at rest costs nothing.
- While the copy is being deleted (``metadata.deletionTimestamp``) the actor runs on: the run
  under way goes to its end (switched, or compensated by the journal rule), an open journal
  found at start is resumed or compensated, the lease is renewed and the world converged as
  usual. No new run starts: a confirmed switchover is refused (``being-deleted``), the
  spec's request and every trigger are ignored, a DryRun reports :data:`DELETING_BLOCKER`.
- Once no run is under way and no journal is open, the last status is written, the
  finalizer removed and the actor stops; the API server then deletes the copy. A removal
  that fails is tried again at the next renewal. The lease is not released (a stop on
  deletion never released it): it lapses at its TTL unless the journal moved it on.

Plain functions over the actor, called from its message handling only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from continuum.actors.continuum.limits import READ_TIMEOUT
from continuum.errors import ContinuumError
from continuum.messages.crd import FINALIZER
from continuum.switchover.timeouts import with_timeout

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor

__all__ = [
    "DELETING_BLOCKER",
    "DELETING_REFUSAL",
    "hold_finalizer",
    "in_flight",
    "release_when_idle",
]

DELETING_BLOCKER: Final = (
    "the Continuum is being deleted (metadata.deletionTimestamp is set): no switchover "
    "starts; a run under way finishes first, then the controller removes its finalizer"
)
"""The blocker a DryRun reports while the CR is being deleted."""

DELETING_REFUSAL: Final = "being-deleted"
"""The reason of the 409 that refuses a switchover while the CR is being deleted."""


async def hold_finalizer(actor: ContinuumActor) -> None:
    """Make this region's copy carry the finalizer unless it does (as far as the actor
    knows) or is being deleted. Never raises: a failure is logged and tried again by the
    next call (each renewal calls this; it writes nothing once the finalizer is held)."""
    if actor.finalizer_held or actor.cr.deleting:
        return
    try:
        await with_timeout(
            actor.clock, READ_TIMEOUT, lambda: actor.env.finalizers.add_finalizer(actor.key)
        )
    except (ContinuumError, TimeoutError) as exc:
        actor.log.warning("finalizer_add_failed", finalizer=FINALIZER, error=str(exc))
        return
    actor.finalizer_held = True
    actor.log.info("finalizer_added", finalizer=FINALIZER)


def in_flight(actor: ContinuumActor) -> bool:
    """A run is under way or a journal is open: a deletion waits."""
    return actor.running is not None or actor.status.switchover is not None


async def release_when_idle(actor: ContinuumActor) -> bool:
    """While the CR is being deleted and nothing is in flight (no run, no open journal):
    write the last status, remove the finalizer and stop the actor. Returns whether it did.
    Never raises: a failed removal is logged, and the next renewal tries again."""
    if not actor.cr.deleting:
        return False
    if in_flight(actor):
        if not actor.deletion_announced:
            actor.deletion_announced = True
            journal = actor.status.switchover
            actor.log.info(
                "deletion_waits_for_switchover",
                id=actor.running.id if actor.running is not None else journal and journal.id,
            )
        return False
    await actor.flush()
    try:
        await with_timeout(
            actor.clock, READ_TIMEOUT, lambda: actor.env.finalizers.remove_finalizer(actor.key)
        )
    except (ContinuumError, TimeoutError) as exc:
        actor.log.warning("finalizer_remove_failed", finalizer=FINALIZER, error=str(exc))
        return False
    actor.finalizer_held = False
    actor.log.info("finalizer_removed", finalizer=FINALIZER)
    actor.ctx.stop()
    return True
