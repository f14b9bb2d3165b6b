"""The CR's finalizer: held while this instance manages its region's copy of the CR, let go
once a deletion finds nothing in flight (``docs/decisions.md`` #20).

- When the actor starts managing a CR it makes the copy in its own region carry
  :data:`~continuum.messages.crd.FINALIZER`: one write, only when the copy does not carry it
  yet and is not being deleted (the API server refuses new finalizers then). A failed write
  is tried again at the next renewal; a CR at rest costs nothing.
- A switchover never hands the writer role to a region whose copy is gone or being deleted
  (:func:`target_copy_refusal`: a DryRun blocker, and the check right before ``swap-lease``
  that makes the run compensate): nobody there would take it over.
- While the copy is being deleted (``metadata.deletionTimestamp``) the actor runs on: the run
  under way goes to its end (switched, or compensated by the journal rule), an open journal
  found at start is resumed or compensated, the lease is renewed and the world converged as
  usual. No new run starts: a confirmed switchover is refused (``being-deleted``), the
  spec's request and every trigger are ignored, a DryRun reports :data:`DELETING_BLOCKER`.
- Once no run is under way, no journal is open, no old primary is left unconfirmed (an unplanned
  failover to this region that could not cordon the lost region's Cluster: only this instance, as
  the writer, demotes it once it is reachable again, see :func:`old_primary_unconfirmed`; unless
  the lease names that region again, :func:`old_primary_retook`), its own
  Cluster has been seen settled by the self-fence check (a replica, or the writer's: never a stale
  primary left behind), and — for the writer — its last observation found the world agreeing with
  it, or — for another region's instance — no switchover toward it is under way in the holder's
  region and the lease does not name it (each bounded by :data:`CONVERGE_GRACE_RENEWALS` renewals
  where it may never come), the last status is written, the finalizer removed and the actor stops;
  the API server then deletes the copy. A removal that fails is tried again at the next renewal. The
  lease is not released (a stop on deletion never released it): it lapses at its TTL unless the
  journal moved it on.

Plain functions over the actor, called from its message handling only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import msgspec

from continuum.actors.continuum.converging import (
    current_disagreement,
    current_read_disagreement,
    current_unobserved,
)
from continuum.actors.continuum.limits import READ_TIMEOUT
from continuum.core import deletion_grace, deletion_wait
from continuum.core.admission import DELETING_REFUSAL
from continuum.errors import ContinuumError
from continuum.messages.crd import FINALIZER
from continuum.messages.lease import Lease
from continuum.messages.status import LastSwitchover
from continuum.messages.switchover import PairState, StepName
from continuum.switchover.timeouts import with_timeout

if TYPE_CHECKING:
    from continuum.actors.continuum.actor import ContinuumActor

__all__ = [
    "CONVERGE_GRACE_RENEWALS",
    "DELETING_BLOCKER",
    "DELETING_REFUSAL",
    "FINALIZER_RETRY_MAX_SECONDS",
    "FinalizerAddEnded",
    "FinalizerRetry",
    "finalizer_add_ended",
    "hold_finalizer",
    "in_flight",
    "note_pair",
    "old_primary_after_run",
    "old_primary_retook",
    "old_primary_unconfirmed",
    "release_when_idle",
    "target_copy_refusal",
]

DELETING_BLOCKER: Final = (
    "the Continuum is being deleted (metadata.deletionTimestamp is set): no switchover "
    "starts; a run under way finishes first, then the controller removes its finalizer"
)
"""The blocker a DryRun reports while the CR is being deleted."""

CONVERGE_GRACE_RENEWALS: Final = 6
"""How many renewal periods a deletion waits for what may never come: a writer for the
world to agree with it (a convergence needs two observations one period apart), a standby
for the holder's copy or the witness to answer."""


FINALIZER_RETRY_MAX_SECONDS = 120.0
"""The longest wait between two attempts to add the finalizer while they fail."""


@dataclass
class FinalizerRetry:
    """Failed attempts to add the finalizer in a row, and when the next may be made: after
    ``renewSeconds · 2^(n-1)``, at most :data:`FINALIZER_RETRY_MAX_SECONDS` (tried on every
    renewal while an API server is saturated, each attempt waits out its 5 s bound; 20,000
    new CRs over four replicas, ``docs/benchmarks.md``); ``adding`` while one is in flight
    (in a child task, never in the mailbox: decision #33)."""

    failures: int = 0
    not_before: float = 0.0
    adding: bool = False

    def failed(self, now: float, interval: float) -> float:
        """Count a failure at ``now``; returns the wait before the next attempt."""
        self.failures += 1
        wait = min(interval * 2.0 ** (self.failures - 1), FINALIZER_RETRY_MAX_SECONDS)
        self.not_before = now + wait
        return wait


def hold_finalizer(actor: ContinuumActor) -> None:
    """Make this region's copy carry the finalizer unless it does (as far as the actor
    knows) or is being deleted: the write is started in a child task (bounded by
    ``READ_TIMEOUT``) and its outcome comes back as :class:`FinalizerAddEnded`. At most one
    at a time, and none before the back-off of :class:`FinalizerRetry` has passed after a
    failure; each renewal calls this (it does nothing once the finalizer is held)."""
    retry = actor.finalizer_retry
    if actor.finalizer_held or actor.cr.deleting or retry.adding:
        return
    if actor.env.write_queue.crowded:
        return  # the next renewal tries again
    clock, finalizers, key, queue = (
        actor.clock,
        actor.env.finalizers,
        actor.key,
        actor.env.write_queue,
    )
    if clock.monotonic() < retry.not_before:
        return

    async def add() -> str:
        try:
            async with queue.slot():  # the timeout starts once admitted
                await with_timeout(clock, READ_TIMEOUT, lambda: finalizers.add_finalizer(key))
        except (ContinuumError, TimeoutError) as exc:
            return str(exc) or f"timed out after {READ_TIMEOUT:g}s"
        return ""

    retry.adding = True
    actor.ctx.start_child(
        add,
        on_result=lambda error: FinalizerAddEnded(error=error),
        on_error=lambda exc: FinalizerAddEnded(error=f"{type(exc).__name__}: {exc}"),
        name=f"finalizer-add:{key}",
    )


class FinalizerAddEnded(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of :func:`hold_finalizer`'s write ("": added)."""

    error: str


def finalizer_add_ended(actor: ContinuumActor, error: str) -> None:
    """Record the outcome of the finalizer's write: held, or the back-off before the next
    attempt (logged)."""
    retry = actor.finalizer_retry
    retry.adding = False
    if error:
        wait = retry.failed(actor.clock.monotonic(), actor.renew_seconds)
        actor.log.warning(
            "finalizer_add_failed", finalizer=FINALIZER, error=error, retry_in_seconds=wait
        )
        return
    actor.finalizer_retry = FinalizerRetry()
    actor.finalizer_held = True
    actor.log.info("finalizer_added", finalizer=FINALIZER)


def old_primary_unconfirmed(last: LastSwitchover | None, *, region: str) -> str:
    """The region whose Cluster the last switchover left uncordoned while moving the writer
    to ``region`` (an unplanned failover skips ``cordon-old-primary`` when the lost region
    does not answer), or "" when there is none. Pure; from the status alone, so a restarted
    instance knows it too (until its next observation of the pair confirms the half)."""
    if (
        last is None
        or last.result != "Succeeded"
        or last.to != region
        or last.from_ == region
        or StepName.CORDON_OLD_PRIMARY in last.completed_steps
    ):
        return ""
    return last.from_


def old_primary_after_run(previous: str, last: LastSwitchover, *, region: str) -> str:
    """The old primary left to confirm once a run ended with ``last``: a run that moved the
    writer role (``Succeeded``) replaces what was remembered (:func:`old_primary_unconfirmed`
    of that run); any other run moved nothing and keeps ``previous`` (seed 567360: a failback
    that failed its preconditions made the writer forget the Cluster its failover had left
    uncordoned, and its deleted copy let go with that Cluster still primary beside its own).
    Pure."""
    if last.result != "Succeeded":
        return previous
    return old_primary_unconfirmed(last, region=region)


def old_primary_retook(old: str, lease: Lease | None) -> bool:
    """Whether the lease last seen names ``old``, the region whose Cluster a failover to this
    region left uncordoned: that region took the writer role back, its Cluster is the
    writer's again, not a stale primary for this instance to demote (seed 3744: a deleting
    standby waited for it for good). Pure."""
    return bool(old) and lease is not None and lease.holder == old


def note_pair(actor: ContinuumActor, pair: PairState) -> None:
    """An observation read the pair: the old primary left by a failover is confirmed once
    its half is readable and no longer writes (a replica, or fenced)."""
    region = actor.old_primary_unconfirmed
    half = pair.half(region) if region else None
    if half is not None and half.reachable and (not half.acts_as_primary or half.fenced):
        actor.old_primary_unconfirmed = ""


async def in_flight(actor: ContinuumActor) -> str:
    """What a deletion waits for ("" when nothing), as :mod:`continuum.core.deletion_wait`
    decides: a run under way, an open journal, an old primary only this instance would
    demote, a convergence write under way; as the writer, a world that does not agree with
    it yet; otherwise, a switchover toward this region under way in the holder's region."""
    if not actor.acting():
        # The writer's grace to converge is counted per tenure (core/deletion_grace.py).
        actor.deletion_grace = deletion_grace.not_acting(actor.deletion_grace)
    if old_primary_retook(actor.old_primary_unconfirmed, actor.lease_view):
        actor.old_primary_unconfirmed = ""
    acting = actor.acting()
    unobserved = acting and current_unobserved(actor)
    if unobserved:
        # Nor while the writer cannot read part of the world: what it cannot read it cannot
        # converge (seed 541251; that wait has its own grace, which never starts over).
        actor.deletion_grace = deletion_grace.unobserved(actor.deletion_grace)
    facts = deletion_wait.DeletionFacts(
        region=actor.region,
        acting=acting,
        cnpg_pair=actor.cr.spec.switchover.mechanism == "cnpg-pair",
        running_id=actor.running.id if actor.running is not None else "",
        journal_id=actor.status.switchover.id if actor.status.switchover is not None else "",
        old_primary_unconfirmed=actor.old_primary_unconfirmed,
        self_fence_pending=actor.self_fence.pending,
        repairing=actor.observing.repairing,
        # The other regions' routes follow a switchover only by the writer's convergence.
        disagreement=current_disagreement(actor) if acting else "",
        unobserved=unobserved,
        read_disagreement=current_read_disagreement(actor) if unobserved else "",
    )
    local = deletion_wait.local(facts)
    waiting = _first_holding(actor, local.waits)
    if waiting or not local.ask_holder:
        return waiting
    return await _handover_pending(actor)


async def _handover_pending(actor: ContinuumActor) -> str:
    """Not the writer: the holder's region may be handing the writer role to this one. Its
    journal is read first, then the lease: the holder closes its journal only after the
    handover, so a closed journal and a lease not naming this region mean no handover is
    coming from that run (and a new run checks this copy before it hands over:
    :func:`target_copy_refusal`). What each answer asks for is decided by
    :func:`continuum.core.deletion_wait.holder_copy` and
    :func:`~continuum.core.deletion_wait.lease_read`."""
    copies = actor.env.copies
    if copies is None:
        return ""
    holder = actor.acting_primary()
    if holder and holder != actor.region:
        try:
            state = await with_timeout(
                actor.clock, READ_TIMEOUT, lambda: copies.read_copy(holder, actor.key)
            )
        except (ContinuumError, TimeoutError) as exc:
            waits = deletion_wait.holder_copy(
                region=actor.region, holder=holder, copy=None, error=str(exc)
            )
        else:
            waits = deletion_wait.holder_copy(
                region=actor.region, holder=holder, copy=state, error=""
            )
        # A copy whose grace ran out: the lease may still name this region (seed 2873).
        waiting = _first_holding(actor, waits)
        if waiting:
            return waiting
    try:
        lease = await with_timeout(actor.clock, READ_TIMEOUT, lambda: actor.witness.read(actor.key))
    except (ContinuumError, TimeoutError) as exc:
        waits = deletion_wait.lease_read(region=actor.region, lease=None, error=str(exc))
    else:
        # Live or lapsed, a lease naming this region as the last writer: it takes the role
        # over (adopts, or re-acquires) and converges the world before it lets go.
        waits = deletion_wait.lease_read(region=actor.region, lease=lease, error="")
    return _first_holding(actor, waits)


def _first_holding(actor: ContinuumActor, waits: tuple[deletion_wait.Wait, ...]) -> str:
    """The reason of the first of ``waits`` that holds ("" when none): one without grace
    always holds, one with a grace kind only while that grace lasts (:func:`_within_grace`)."""
    for wait in waits:
        if wait.grace is None:
            return wait.reason
        waiting = _within_grace(actor, wait.grace, wait.reason)
        if waiting:
            return waiting
    return ""


def _within_grace(actor: ContinuumActor, kind: str, reason: str) -> str:
    """``reason`` while the deletion's grace for ``kind`` lasts
    (:data:`CONVERGE_GRACE_RENEWALS` renewals from the first wait of that kind; the
    writer's wait to converge from the first of its current tenure:
    :mod:`continuum.core.deletion_grace`), then "": a world that cannot be repaired or read
    (its objects deleted with the namespace, a region gone) never holds a deletion for good.
    Each kind has its own grace: a writer that had to wait for the witness still gets its
    full time to converge, and a copy that cannot be read still leaves the lease to read."""
    if not reason:
        return ""
    actor.deletion_grace, verdict = deletion_grace.waiting(
        actor.deletion_grace,
        kind,
        now=actor.clock.monotonic(),
        period=actor.renew_seconds,
        renewals=CONVERGE_GRACE_RENEWALS,
        observed_at=actor.world.observed_at,
    )
    if verdict == deletion_grace.WAIT:
        return reason
    if verdict == deletion_grace.RAN_OUT:
        actor.log.warning("deletion_lets_go_after_grace", why=reason)
    return ""


async def target_copy_refusal(actor: ContinuumActor, to_region: str) -> str:
    """Why the writer role must not be handed to ``to_region`` ("" when it may): that
    region's copy of the CR is gone or being deleted (no instance there would take the role
    over and converge its part of the world), or cannot be read. Read-only; checked by the
    DryRun and, after the journal names ``swap-lease``, right before the handover."""
    copies = actor.env.copies
    if copies is None or to_region == actor.region:
        return ""
    try:
        state = await with_timeout(
            actor.clock, READ_TIMEOUT, lambda: copies.read_copy(to_region, actor.key)
        )
    except (ContinuumError, TimeoutError) as exc:
        return f"region {to_region}'s copy of {actor.key} cannot be read: {exc}"
    if not state.exists:
        return (
            f"region {to_region} has no copy of {actor.key}: no instance there would take "
            "the writer role over"
        )
    if state.deleting:
        return (
            f"region {to_region}'s copy of {actor.key} is being deleted: no instance there "
            "would take the writer role over"
        )
    return ""


async def release_when_idle(actor: ContinuumActor) -> bool:
    """While the CR is being deleted and nothing is in flight (:func:`in_flight`):
    write the last status, remove the finalizer and stop the actor. Returns whether it did.
    Never raises: when the status write or the removal fails, the next renewal tries again
    (the finalizer never goes before the closed journal is written)."""
    if not actor.cr.deleting:
        return False
    waiting = await in_flight(actor)
    if waiting:
        if actor.deletion_waits_for != waiting:
            actor.deletion_waits_for = waiting
            actor.log.info("deletion_waits", why=waiting)
        return False
    if not await actor.flush(essential=True):
        return False  # the closed journal must be written first: the next renewal retries
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
