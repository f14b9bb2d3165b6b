"""The pure part of the finalizer rule: which old primary a failover left for this instance
to confirm before a deletion may let go."""

from __future__ import annotations

from datetime import UTC, datetime

from continuum.actors.continuum.finalizing import old_primary_after_run, old_primary_unconfirmed
from continuum.messages.status import LastSwitchover
from continuum.messages.switchover import StepName
from tests.continuum_actor.harness import A, B

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ALL_BUT_CORDON = [s for s in StepName if s is not StepName.CORDON_OLD_PRIMARY]


def _last(*, result: str = "Succeeded", to: str = B, completed: list[StepName]) -> LastSwitchover:
    return LastSwitchover(
        id="run-1",
        from_=A,
        to=to,
        result=result,  # type: ignore[arg-type]
        completed_steps=completed,
        started_at=T0,
        finished_at=T0,
        duration_seconds=1.0,
    )


def test_a_failover_that_could_not_cordon_the_old_primary_leaves_it_to_confirm() -> None:
    assert old_primary_unconfirmed(_last(completed=ALL_BUT_CORDON), region=B) == A


def test_nothing_is_left_to_confirm_after_a_cordoned_run_or_for_another_region() -> None:
    assert old_primary_unconfirmed(_last(completed=list(StepName)), region=B) == ""
    assert old_primary_unconfirmed(_last(completed=ALL_BUT_CORDON), region=A) == ""
    compensated = _last(result="Compensated", completed=ALL_BUT_CORDON)
    assert old_primary_unconfirmed(compensated, region=B) == ""
    assert old_primary_unconfirmed(None, region=B) == ""


def test_a_run_that_moved_nothing_keeps_the_old_primary_to_confirm() -> None:
    """Seed 567360: after a failover to B that could not cordon A, a failback B → A failed its
    preconditions (A's Cluster unreadable). The writer forgot A's uncordoned Cluster, and
    its deleted copy let go with A's Cluster still primary beside B's."""
    failed = _last(result="Failed", to=A, completed=[])
    assert old_primary_after_run(A, failed, region=B) == A
    compensated = _last(result="Compensated", to=A, completed=[StepName.VALIDATE_LEASE])
    assert old_primary_after_run(A, compensated, region=B) == A


def test_a_run_that_moved_the_writer_replaces_the_old_primary_to_confirm() -> None:
    assert old_primary_after_run("", _last(completed=ALL_BUT_CORDON), region=B) == A
    assert old_primary_after_run(A, _last(completed=list(StepName)), region=B) == ""
    assert old_primary_after_run(A, _last(to=A, completed=list(StepName)), region=B) == ""
