"""The journal rule: after a crash, resume forward or compensate (``docs/switchover.md``).

The rule turns on one fact: who holds the lease now. Once the lease is on ``to`` the target
owns the write role (DNS already points at it — ``flip-dns`` precedes ``swap-lease``), so
the run is finished forward; before that, nothing irreversible happened and the run is
undone. A lease that reached the target by another path (a failover while the run was
stopped) :class:`Superseded` the run: it is closed as it stands, acting on nothing, since the
holder's convergence owns the world now. Anything else the rule cannot explain (witness
unreadable, a third holder, a lease that left the target) is ``Undecided``: the owner retries
later and never guesses.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from continuum.messages.lease import Lease
from continuum.messages.switchover import STEP_ORDER, JournalEntry, StepName

__all__ = [
    "UNDONE_WHEN_SKIPPED",
    "Compensate",
    "Decision",
    "Finished",
    "Resume",
    "Superseded",
    "Undecided",
    "decide",
    "undo_order",
]


class Resume(msgspec.Struct, frozen=True, kw_only=True):
    """Run forward from ``from_step`` under fencing ``epoch`` with ``completed`` done."""

    from_step: StepName
    epoch: int
    completed: tuple[StepName, ...]


class Compensate(msgspec.Struct, frozen=True, kw_only=True):
    """Undo ``steps`` in this order (compensations are idempotent, so a step that was in
    flight is included: it may or may not have written)."""

    steps: tuple[StepName, ...]


class Finished(msgspec.Struct, frozen=True, kw_only=True):
    """Nothing left to do."""


class Superseded(msgspec.Struct, frozen=True, kw_only=True):
    """The lease reached the run's target by another path (a failover, a later run) and not
    by this run's ``swap-lease``: close the journal as it stands and act on nothing — neither
    resume (this run no longer holds the lease its steps are fenced by) nor undo, even when
    the run was compensating (that would pull the world away from the holder). The holder
    converges the world (``core/converge.py``). ``holder`` and ``generation`` are the lease
    as observed, for the record."""

    holder: str
    generation: int


class Undecided(msgspec.Struct, frozen=True, kw_only=True):
    """The observed state does not say; retry later (never guess)."""

    reason: str


Decision = Resume | Compensate | Finished | Superseded | Undecided


UNDONE_WHEN_SKIPPED: frozenset[StepName] = frozenset({StepName.DRAIN_HTTP})
"""The steps a rollback undoes even when a failover skipped them. A skipped step failed, and a
failure may be a write that landed with its answer lost. ``drain-http`` acts on the acting
instance's own copy of the route and its undo needs nothing of the lost region (it restores
the weights recorded on the route when its answer never came: ``undrain.py``); left out, a
rolled-back failover could leave its own region's route serving nothing (seed 110649).
``cordon-old-primary`` is not undone: its undo needs the lost region's live lease, which an
unplanned rollback never has; the holder's convergence promotes its Cluster if none is
primary."""


def undo_order(
    *,
    completed: Iterable[StepName],
    skipped: Iterable[StepName] = (),
    compensated: Iterable[StepName] = (),
    in_flight: StepName | None = None,
) -> tuple[StepName, ...]:
    """The steps a rollback undoes, in order: ``in_flight`` first (it may have written), then
    the completed steps and the skipped ones of :data:`UNDONE_WHEN_SKIPPED`, newest first
    (by :data:`STEP_ORDER`); none twice, none already ``compensated``, no other skipped
    step."""
    skipped = set(skipped)
    done = set(compensated) | (skipped - UNDONE_WHEN_SKIPPED)
    attempted = set(completed) | (skipped & UNDONE_WHEN_SKIPPED)
    order = [in_flight] if in_flight is not None else []
    order += sorted(attempted, key=STEP_ORDER.index, reverse=True)
    steps: list[StepName] = []
    for step in order:
        if step not in done and step not in steps:
            steps.append(step)
    return tuple(steps)


def _undo_order(entry: JournalEntry, *, in_flight: StepName | None) -> tuple[StepName, ...]:
    return undo_order(
        completed=entry.completed,
        skipped=entry.skipped,
        compensated=entry.compensated,
        in_flight=in_flight,
    )


def _lease_may_be_ours(entry: JournalEntry) -> bool:
    """Whether this run may have put the lease on its target: its ``swap-lease`` completed or
    was in flight (forward, or its undo) and has not been undone since."""
    swap = StepName.SWAP_LEASE
    if swap in entry.compensated:
        return False
    return swap in entry.completed or entry.step is swap


def decide(entry: JournalEntry, lease: Lease | None) -> Decision:
    """The rule. ``lease`` is the witness slot as read now (``None``: could not be read).

    * phase ``done`` → :class:`Finished`;
    * lease unreadable → :class:`Undecided`;
    * phase ``compensating``, lease on ``from`` or free, or on ``to`` by this run's own
      ``swap-lease`` (completed or in flight, not undone) → :class:`Compensate` the journaled
      step (the undo in flight, which may be the failed forward step) and the completed
      steps (and skipped ones of :data:`UNDONE_WHEN_SKIPPED`) not yet undone (the decision
      to undo was already taken);
    * phase ``compensating``, lease on ``to`` by another path → :class:`Superseded`: the
      undo would pull the world away from the holder (a later run or failover);
    * phase ``forward``, lease on ``to`` → :class:`Resume`: from the journaled step if
      ``swap-lease`` completed; from ``promote-new-primary`` if ``swap-lease`` was in flight
      (its compare-and-set landed; the new epoch is the observed generation);
    * phase ``forward``, lease on ``to``, ``swap-lease`` neither completed nor in flight →
      :class:`Superseded` (the journal is written before each step starts, so this run's
      compare-and-set cannot have run: another path — a failover — moved the lease);
    * phase ``forward``, lease on ``from`` or free, ``swap-lease`` not completed →
      :class:`Compensate` the in-flight step and the completed ones (and skipped ones of
      :data:`UNDONE_WHEN_SKIPPED`), newest first (:func:`undo_order`);
    * otherwise → :class:`Undecided`.
    """
    if entry.phase == "done":
        return Finished()
    if lease is None:
        return Undecided(reason="witness unreadable: cannot tell whether the lease moved")
    plan = entry.plan
    if entry.phase == "compensating":
        # ``step`` is the undo that was about to run (or failed): not yet in ``compensated``,
        # and possibly the failed forward step, which is not in ``completed`` either.
        if lease.holder == plan.to_region and not _lease_may_be_ours(entry):
            return Superseded(holder=lease.holder, generation=lease.generation)
        if lease.holder not in ("", plan.from_region, plan.to_region):
            return Undecided(reason=f"lease held by third party {lease.holder!r}")
        return Compensate(steps=_undo_order(entry, in_flight=entry.step))
    swapped = StepName.SWAP_LEASE in entry.completed
    if lease.holder == plan.to_region:
        if swapped:
            return Resume(from_step=entry.step, epoch=entry.epoch, completed=entry.completed)
        if entry.step is StepName.SWAP_LEASE:
            return Resume(
                from_step=STEP_ORDER[STEP_ORDER.index(StepName.SWAP_LEASE) + 1],
                epoch=lease.generation,
                completed=(*entry.completed, StepName.SWAP_LEASE),
            )
        return Superseded(holder=lease.holder, generation=lease.generation)
    if lease.holder in ("", plan.from_region):
        if swapped:
            return Undecided(reason="lease left the target after the handover")
        return Compensate(steps=_undo_order(entry, in_flight=entry.step))
    return Undecided(reason=f"lease held by third party {lease.holder!r}")
