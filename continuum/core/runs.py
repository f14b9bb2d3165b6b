"""What becomes of a switchover run when it ends and of an unfinished journal after a
restart: pure decisions.

:func:`recover` takes the journal found in status (after a restart, a crashed run, or at the
next renewal after an undo that failed) and the lease as read now, and says what the shell
does with it, by the journal rule (:func:`continuum.switchover.journal.decide`,
``docs/switchover.md``): nothing, clear it, wait, close it as superseded, resume it forward,
or undo it. The undos that failed in this process come first: a failed forward step's undo is
not in the journal's ``completed``, and the journal's ``step`` has moved on since.

:func:`run_ended` takes a run's result: a rollback whose undo failed keeps its journal
(``compensating``) and is undone again, up to :data:`COMPENSATION_ATTEMPTS` times per
process (:class:`UndoAttempts` counts them); then, or for any other result, the run is
closed. A closed run that was retried reports the run's original failure, not the empty one
of its last undo.

Never does I/O, never reads a clock (``now`` is given), never raises.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import msgspec

from continuum.messages.audit import format_timestamp
from continuum.messages.lease import Lease
from continuum.messages.switchover import JournalEntry, StepName, SwitchoverResult
from continuum.switchover import journal as journal_rule

__all__ = [
    "COMPENSATION_ATTEMPTS",
    "CloseRun",
    "CloseSuperseded",
    "Compensate",
    "DropJournal",
    "Leave",
    "Recovery",
    "Resume",
    "RetryUndo",
    "RunOutcome",
    "UndoAttempts",
    "Unresumable",
    "Wait",
    "recover",
    "run_ended",
    "superseded_result",
    "undo_failed",
]

COMPENSATION_ATTEMPTS: Final = 3
"""How many times one process undoes a run whose undo failed before it closes the journal
as ``Failed`` and leaves the world to convergence (``converging.py``)."""


class UndoAttempts(msgspec.Struct, frozen=True, kw_only=True):
    """The undos of one run that failed in this process: how many, the steps whose undo
    failed the last time, and the result of the run's first end (its original failure)."""

    attempts: int
    failed: tuple[StepName, ...]
    first: SwitchoverResult


# -- recover ---------------------------------------------------------------------------------


class Leave(msgspec.Struct, frozen=True, kw_only=True):
    """Nothing to recover: no journal, or a run is under way (it owns the journal)."""


class Unresumable(msgspec.Struct, frozen=True, kw_only=True):
    """The journal in status cannot be read back into an entry: leave it, log it."""

    id: str


class DropJournal(msgspec.Struct, frozen=True, kw_only=True):
    """The journal is finished: clear it from status."""

    id: str


class Wait(msgspec.Struct, frozen=True, kw_only=True):
    """The rule cannot tell yet (``reason``); decide again later, never guess."""

    id: str
    reason: str


class CloseSuperseded(msgspec.Struct, frozen=True, kw_only=True):
    """The lease reached the target by another path: clear the journal and record
    ``result`` (``Failed`` at the journaled step) as ``lastSwitchover``; forget the run's
    undo attempts. Nothing is resumed or undone; the holder converges the world."""

    result: SwitchoverResult
    holder: str
    generation: int


class Resume(msgspec.Struct, frozen=True, kw_only=True):
    """Run ``entry`` forward from ``from_step`` under ``epoch`` with ``completed`` done,
    fenced by the journaled holder and epoch."""

    entry: JournalEntry
    from_step: StepName
    epoch: int
    completed: tuple[StepName, ...]


class Compensate(msgspec.Struct, frozen=True, kw_only=True):
    """Undo ``steps`` of ``entry`` in this order, fenced by the journaled holder and
    epoch."""

    entry: JournalEntry
    steps: tuple[StepName, ...]


Recovery = Leave | Unresumable | DropJournal | Wait | CloseSuperseded | Resume | Compensate


def superseded_result(
    entry: JournalEntry, decision: journal_rule.Superseded, *, now: datetime
) -> SwitchoverResult:
    """The result a superseded run is closed with: not ``ok``, failed at its journaled step,
    the error naming the holder and generation observed; ``finished_at`` is ``now``."""
    doing = "undoing" if entry.phase == "compensating" else "at"
    why = (
        f"superseded: the lease moved to {decision.holder!r} (generation {decision.generation}) "
        f"by another path (a failover or a later run) while this run stood {doing} "
        f"{entry.step.value!r}, not by its own swap-lease; closed without acting, the holder "
        "converges the world"
    )
    return SwitchoverResult(
        id=entry.id,
        from_region=entry.plan.from_region,
        to_region=entry.plan.to_region,
        ok=False,
        started_at=entry.started_at,
        finished_at=format_timestamp(now),
        steps_completed=entry.completed,
        failed_step=entry.step,
        error=why,
        skipped=entry.skipped,
        new_epoch=entry.epoch,
    )


def recover(
    *,
    journal_id: str | None,
    entry: JournalEntry | None,
    running: bool,
    lease: Lease | None,
    attempts: UndoAttempts | None,
    now: datetime,
) -> Recovery:
    """What to do with the journal ``journal_id`` found in status (``None``: none), read back
    as ``entry`` (``None``: unreadable), with a run under way or not, the lease as read now
    (``None``: the witness could not be read) and the run's failed undos in this process.

    :class:`Leave` when there is no journal or a run is under way; :class:`Unresumable` when
    it cannot be read; otherwise the journal rule's decision, with a compensation's failed
    undos first (each step once)."""
    if journal_id is None or running:
        return Leave()
    if entry is None:
        return Unresumable(id=journal_id)
    decision = journal_rule.decide(entry, lease)
    if isinstance(decision, journal_rule.Finished):
        return DropJournal(id=entry.id)
    if isinstance(decision, journal_rule.Undecided):
        return Wait(id=entry.id, reason=decision.reason)
    if isinstance(decision, journal_rule.Superseded):
        return CloseSuperseded(
            result=superseded_result(entry, decision, now=now),
            holder=decision.holder,
            generation=decision.generation,
        )
    if isinstance(decision, journal_rule.Resume):
        return Resume(
            entry=entry,
            from_step=decision.from_step,
            epoch=decision.epoch,
            completed=decision.completed,
        )
    failed = attempts.failed if attempts is not None else ()
    return Compensate(entry=entry, steps=tuple(dict.fromkeys((*failed, *decision.steps))))


# -- run_ended -------------------------------------------------------------------------------


class RetryUndo(msgspec.Struct, frozen=True, kw_only=True):
    """The run's undo failed and is tried again: keep the journal (the recovery at the next
    renewal undoes it, failed steps first); ``attempts`` is the new count."""

    attempts: UndoAttempts


class CloseRun(msgspec.Struct, frozen=True, kw_only=True):
    """Close the run with ``result`` (``lastSwitchover``, the journal cleared). ``switched``:
    the writer role moved (the new acting primary, the post-switchover health timer)."""

    result: SwitchoverResult
    switched: bool


RunOutcome = RetryUndo | CloseRun


def undo_failed(result: SwitchoverResult) -> bool:
    """Whether ``result`` is a rollback one of whose undos failed (a failure to write the
    journal is not an undo that failed)."""
    return result.rolled_back and any(
        not key.startswith("journal:") for key in result.compensation_failures
    )


def run_ended(
    attempts: UndoAttempts | None,
    result: SwitchoverResult,
    *,
    journal_open: bool,
    run_known: bool,
) -> tuple[UndoAttempts | None, RunOutcome]:
    """A run ended with ``result``. ``attempts``: its failed undos so far in this process;
    ``journal_open``: its journal is still in status; ``run_known``: this process started it
    (its plan is known). Returns the run's attempts to keep (``None``: forget them) and what
    to do: :class:`RetryUndo` while its undo failed fewer than :data:`COMPENSATION_ATTEMPTS`
    times with the journal open, else :class:`CloseRun` (a retried run closed without a
    failed step reports the first end's failure and error)."""
    if undo_failed(result) and journal_open:
        count = (attempts.attempts if attempts is not None else 0) + 1
        failed = tuple(
            StepName(key) for key in result.compensation_failures if not key.startswith("journal:")
        )
        first = attempts.first if attempts is not None else result
        kept = UndoAttempts(attempts=count, failed=failed, first=first)
        if count < COMPENSATION_ATTEMPTS:
            return kept, RetryUndo(attempts=kept)
        attempts = kept
    if attempts is not None and result.failed_step is None:
        result = msgspec.structs.replace(
            result,
            failed_step=attempts.first.failed_step,
            error=attempts.first.error or result.error,
        )
    switched = result.ok and not result.compensated and not result.rolled_back and run_known
    return None, CloseRun(result=result, switched=switched)
