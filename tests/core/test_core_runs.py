"""The end of a run and the recovery of a journal (``continuum/core/runs.py``): every
recovery the journal rule can ask for, and the bounded retry of a failed undo."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from continuum.core.runs import (
    COMPENSATION_ATTEMPTS,
    CloseRun,
    CloseSuperseded,
    Compensate,
    DropJournal,
    Leave,
    Resume,
    RetryUndo,
    UndoAttempts,
    Unresumable,
    Wait,
    recover,
    run_ended,
    undo_failed,
)
from continuum.messages.lease import Lease
from continuum.messages.switchover import (
    STEP_ORDER,
    JournalEntry,
    Plan,
    StepName,
    SwitchoverResult,
)

A, B, KEY = "region-a", "region-b", "apps/shop"
NOW = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
SWAP = STEP_ORDER.index(StepName.SWAP_LEASE)


def _entry(step: StepName, *, phase: str = "forward", **kw: object) -> JournalEntry:
    values: dict[str, object] = {"completed": STEP_ORDER[: STEP_ORDER.index(step)]}
    values.update(kw)
    return JournalEntry(
        id="sw",
        plan=Plan(continuum_name=KEY, from_region=A, to_region=B, epoch=5),
        step=step,
        phase=phase,  # type: ignore[arg-type]
        epoch=5,
        started_at="2026-01-01T00:00:00Z",
        **values,  # type: ignore[arg-type]
    )


def _lease(holder: str, generation: int = 5) -> Lease:
    return Lease(key=KEY, holder=holder, generation=generation)


def _recover(
    entry: JournalEntry | None,
    lease: Lease | None,
    *,
    running: bool = False,
    attempts: UndoAttempts | None = None,
    journal_id: str | None = "sw",
) -> object:
    return recover(
        journal_id=journal_id,
        entry=entry,
        running=running,
        lease=lease,
        attempts=attempts,
        now=NOW,
    )


# -- recover ---------------------------------------------------------------------------------


def test_no_journal_or_a_run_under_way_leaves_everything_as_it_is() -> None:
    assert _recover(None, _lease(A), journal_id=None) == Leave()
    assert _recover(_entry(StepName.DRAIN_HTTP), _lease(A), running=True) == Leave()


def test_a_journal_that_cannot_be_read_back_is_unresumable() -> None:
    assert _recover(None, _lease(A)) == Unresumable(id="sw")


def test_a_done_journal_is_dropped() -> None:
    assert _recover(_entry(StepName.SWAP_LEASE, phase="done"), None) == DropJournal(id="sw")


def test_an_unreadable_witness_makes_it_wait() -> None:
    decision = _recover(_entry(StepName.DRAIN_HTTP), None)
    assert isinstance(decision, Wait)
    assert decision.reason.startswith("witness unreadable")


def test_a_forward_journal_whose_lease_is_on_the_target_resumes() -> None:
    entry = _entry(STEP_ORDER[SWAP + 1])
    decision = _recover(entry, _lease(B, 6))
    assert decision == Resume(
        entry=entry, from_step=STEP_ORDER[SWAP + 1], epoch=5, completed=entry.completed
    )


def test_a_journal_before_the_handover_is_undone_newest_first() -> None:
    step = STEP_ORDER[SWAP - 1]
    decision = _recover(_entry(step), _lease(A))
    assert isinstance(decision, Compensate)
    assert decision.steps == (step, *reversed(STEP_ORDER[: SWAP - 1]))


def test_the_undos_that_failed_in_this_process_come_first_each_once() -> None:
    step = STEP_ORDER[SWAP - 1]
    first = _result(ok=False, failed_step=step)
    failed = (StepName.DRAIN_HTTP, step)
    attempts = UndoAttempts(attempts=1, failed=failed, first=first)
    decision = _recover(_entry(step, phase="compensating"), _lease(A), attempts=attempts)
    assert isinstance(decision, Compensate)
    assert decision.steps[:2] == failed
    assert len(decision.steps) == len(set(decision.steps))


def test_a_lease_moved_by_another_path_closes_the_run_as_superseded() -> None:
    entry = _entry(StepName.DRAIN_HTTP)
    decision = _recover(entry, _lease(B, 9))
    assert isinstance(decision, CloseSuperseded)
    assert (decision.holder, decision.generation) == (B, 9)
    result = decision.result
    assert (result.ok, result.failed_step, result.new_epoch) == (False, StepName.DRAIN_HTTP, 5)
    assert result.finished_at == "2026-01-01T00:05:00Z"
    assert "superseded: the lease moved to 'region-b' (generation 9)" in result.error
    assert "stood at 'drain-http'" in result.error


def test_a_superseded_compensation_says_it_stood_undoing() -> None:
    entry = _entry(StepName.DRAIN_HTTP, phase="compensating")
    decision = _recover(entry, _lease(B, 9))
    assert isinstance(decision, CloseSuperseded)
    assert "stood undoing 'drain-http'" in decision.result.error


def test_a_third_holder_makes_it_wait() -> None:
    decision = _recover(_entry(StepName.DRAIN_HTTP), _lease("region-c"))
    assert isinstance(decision, Wait)
    assert "third party" in decision.reason


# -- run_ended -------------------------------------------------------------------------------


def _result(**kw: object) -> SwitchoverResult:
    values: dict[str, object] = {
        "id": "sw",
        "from_region": A,
        "to_region": B,
        "ok": True,
        "started_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T00:01:00Z",
    }
    values.update(kw)
    return SwitchoverResult(**values)  # type: ignore[arg-type]


FAILED_UNDO = _result(
    ok=False,
    rolled_back=True,
    failed_step=StepName.SWAP_LEASE,
    error="swap refused",
    compensation_failures={"drain-http": "route 503", "journal:x": "status refused"},
)


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (_result(), False),
        (_result(rolled_back=True), False),
        (_result(rolled_back=True, compensation_failures={"journal:x": "e"}), False),
        (_result(compensation_failures={"drain-http": "e"}), False),
        (FAILED_UNDO, True),
    ],
)
def test_an_undo_failed_only_for_a_rollback_with_a_failed_step_undo(
    result: SwitchoverResult, expected: bool
) -> None:
    assert undo_failed(result) is expected


@pytest.mark.parametrize(
    ("result", "run_known", "switched"),
    [
        (_result(), True, True),
        (_result(), False, False),
        (_result(compensated=(StepName.DRAIN_HTTP,)), True, False),
        (_result(rolled_back=True), True, False),
        (_result(ok=False, failed_step=StepName.DRAIN_HTTP), True, False),
    ],
)
def test_a_run_closes_and_says_whether_the_writer_moved(
    result: SwitchoverResult, run_known: bool, switched: bool
) -> None:
    kept, outcome = run_ended(None, result, journal_open=False, run_known=run_known)
    assert kept is None
    assert outcome == CloseRun(result=result, switched=switched)


def test_a_failed_undo_is_retried_up_to_the_bound_then_closed_with_the_first_failure() -> None:
    attempts: UndoAttempts | None = None
    for n in range(1, COMPENSATION_ATTEMPTS):
        result = FAILED_UNDO if n == 1 else _retry_result()
        attempts, outcome = run_ended(attempts, result, journal_open=True, run_known=True)
        assert isinstance(outcome, RetryUndo)
        assert attempts == outcome.attempts
        assert (attempts.attempts, attempts.failed) == (n, (StepName.DRAIN_HTTP,))
        assert attempts.first == FAILED_UNDO
    kept, outcome = run_ended(attempts, _retry_result(), journal_open=True, run_known=True)
    assert kept is None
    assert isinstance(outcome, CloseRun)
    assert (outcome.result.failed_step, outcome.result.error) == (
        StepName.SWAP_LEASE,
        "swap refused",
    )
    assert outcome.switched is False


def test_a_retried_undo_that_succeeds_closes_with_the_original_failure() -> None:
    attempts, _ = run_ended(None, FAILED_UNDO, journal_open=True, run_known=True)
    undone = _result(ok=False, rolled_back=True)
    kept, outcome = run_ended(attempts, undone, journal_open=False, run_known=False)
    assert kept is None
    assert isinstance(outcome, CloseRun)
    assert outcome.result.failed_step is StepName.SWAP_LEASE
    assert outcome.result.error == "swap refused"


def test_a_retried_run_that_reports_its_own_failure_keeps_it() -> None:
    attempts, _ = run_ended(None, FAILED_UNDO, journal_open=True, run_known=True)
    own = _result(ok=False, failed_step=StepName.DRAIN_HTTP, error="own")
    _, outcome = run_ended(attempts, own, journal_open=False, run_known=True)
    assert isinstance(outcome, CloseRun)
    assert (outcome.result.failed_step, outcome.result.error) == (StepName.DRAIN_HTTP, "own")


def test_a_failed_undo_whose_journal_is_gone_is_closed_at_once() -> None:
    kept, outcome = run_ended(None, FAILED_UNDO, journal_open=False, run_known=True)
    assert kept is None
    assert outcome == CloseRun(result=FAILED_UNDO, switched=False)


@given(st.lists(st.booleans(), min_size=1, max_size=8))
def test_no_run_is_retried_more_than_the_bound(undo_fails: list[bool]) -> None:
    attempts: UndoAttempts | None = None
    retries = 0
    for fails in undo_fails:
        result = _retry_result() if fails else _result(ok=False, rolled_back=True)
        attempts, outcome = run_ended(attempts, result, journal_open=True, run_known=True)
        if isinstance(outcome, CloseRun):
            assert attempts is None
            break
        retries += 1
    assert retries < COMPENSATION_ATTEMPTS


def _retry_result() -> SwitchoverResult:
    """A recovery's undo that failed again: no failed forward step of its own."""
    return msgspec.structs.replace(FAILED_UNDO, failed_step=None, error="")
