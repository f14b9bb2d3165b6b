"""The grace of a deletion's waits (``continuum/core/deletion_grace.py``): each kind of wait
runs out on its own, and the writer's wait to converge is counted per tenure."""

from __future__ import annotations

from continuum.core.deletion_grace import (
    CONVERGE,
    RAN_OUT,
    SPENT,
    WAIT,
    DeletionGrace,
    not_acting,
    waiting,
)

PERIOD = 10.0
RENEWALS = 6


def _wait(state: DeletionGrace, kind: str, now: float) -> tuple[DeletionGrace, str]:
    return waiting(state, kind, now=now, period=PERIOD, renewals=RENEWALS)


def test_a_wait_lasts_six_renewals_from_its_first_then_runs_out_once() -> None:
    state, verdict = _wait(DeletionGrace(), "witness", 100.0)
    assert (verdict, state.deadline("witness")) == (WAIT, 160.0)
    state, verdict = _wait(state, "witness", 159.9)
    assert verdict == WAIT
    state, verdict = _wait(state, "witness", 160.0)
    assert verdict == RAN_OUT
    state, verdict = _wait(state, "witness", 170.0)
    assert verdict == SPENT
    assert state.deadline("witness") == 160.0  # a spent grace never starts over


def test_each_kind_has_its_own_grace() -> None:
    state, _ = _wait(DeletionGrace(), "copy", 100.0)
    state, verdict = _wait(state, "copy", 160.0)
    assert verdict == RAN_OUT
    # The copy's grace ran out; the witness, first waited on now, still gets its full grace.
    state, verdict = _wait(state, "witness", 160.0)
    assert (verdict, state.deadline("witness")) == (WAIT, 220.0)


def test_the_grace_to_converge_starts_over_once_the_instance_stops_acting() -> None:
    """Seed 3279: a writer's grace to converge ran out while it was cut off (not acting);
    when it took the role back it let go at once, without converging anything."""
    state, _ = _wait(DeletionGrace(), CONVERGE, 100.0)
    state, _ = _wait(state, "witness", 130.0)
    state = not_acting(state)
    assert state.deadline(CONVERGE) is None
    assert state.deadline("witness") == 190.0  # the other kinds keep their grace
    state, verdict = _wait(state, CONVERGE, 200.0)  # acting again, long after 160
    assert (verdict, state.deadline(CONVERGE)) == (WAIT, 260.0)


def test_a_spent_grace_to_converge_starts_over_with_a_new_tenure() -> None:
    state, _ = _wait(DeletionGrace(), CONVERGE, 100.0)
    state, verdict = _wait(state, CONVERGE, 160.0)
    assert verdict == RAN_OUT
    state = not_acting(state)
    assert CONVERGE not in state.spent
    state, verdict = _wait(state, CONVERGE, 300.0)
    assert verdict == WAIT


def test_not_acting_leaves_a_state_without_a_grace_to_converge_as_it_is() -> None:
    state, _ = _wait(DeletionGrace(), "adopt", 100.0)
    assert not_acting(state) is state
