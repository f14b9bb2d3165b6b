"""The grace of a deletion's waits (``continuum/core/deletion_grace.py``): each kind of wait
runs out on its own, and the writer's wait to converge is counted per tenure."""

from __future__ import annotations

from continuum.core.deletion_grace import (
    CONVERGE,
    RAN_OUT,
    SPENT,
    UNOBSERVED,
    WAIT,
    DeletionGrace,
    not_acting,
    unobserved,
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


def test_the_grace_to_converge_starts_over_while_the_world_cannot_be_read() -> None:
    """Seed 541251: the writer's grace to converge ran while another region was cut off;
    that region answered one renewal before it ran out, too late for a convergence that
    needs two observations. The wait for what cannot be read has its own grace, which never
    starts over; the grace to converge counts from the first wait on a world read whole."""
    state, verdict = _wait(DeletionGrace(), CONVERGE, 100.0)  # read whole, disagrees
    state = unobserved(state)  # then a region is cut off
    state, verdict = _wait(state, UNOBSERVED, 110.0)
    assert (verdict, state.deadline(CONVERGE)) == (WAIT, None)
    for now in (120.0, 130.0, 140.0, 150.0, 160.0):
        state = unobserved(state)
        state, verdict = _wait(state, UNOBSERVED, now)
        assert verdict == WAIT
    state, verdict = _wait(state, CONVERGE, 165.0)  # it answers again: a full grace
    assert (verdict, state.deadline(CONVERGE)) == (WAIT, 225.0)
    state = unobserved(state)  # cut off again: what cannot be read is not waited for again
    state, verdict = _wait(state, UNOBSERVED, 170.0)
    assert verdict == RAN_OUT
    assert state.deadline(UNOBSERVED) == 170.0


def test_once_the_unobserved_grace_ran_out_the_grace_to_converge_no_longer_starts_over() -> None:
    """Seed 741232: the writer let go on the grace of what it could not read while its own
    route, which it could read, served both regions (a shift whose answer was lost, the
    drain after it never made). Once that grace ran out, what it read and still disagrees is
    waited for on the grace to converge, which must then run out too: it no longer starts
    over while part of the world stays unread."""
    state, verdict = _wait(DeletionGrace(), UNOBSERVED, 100.0)
    for now in (110.0, 120.0, 130.0, 140.0, 150.0):
        state = unobserved(state)
        state, verdict = _wait(state, UNOBSERVED, now)
        assert verdict == WAIT
    state = unobserved(state)
    state, verdict = _wait(state, UNOBSERVED, 160.0)
    assert verdict == RAN_OUT
    state, verdict = _wait(state, CONVERGE, 160.0)  # its own route still split
    assert (verdict, state.deadline(CONVERGE)) == (WAIT, 220.0)
    for now in (170.0, 180.0, 190.0, 200.0, 210.0):
        assert unobserved(state) is state  # still cut off: the grace keeps running
        state, verdict = _wait(state, UNOBSERVED, now)
        assert verdict == SPENT
        state, verdict = _wait(state, CONVERGE, now)
        assert verdict == WAIT
    state, verdict = _wait(unobserved(state), CONVERGE, 220.0)
    assert verdict == RAN_OUT  # bounded: a region gone for good never holds it for good


def test_the_unobserved_grace_runs_out_only_on_a_look_begun_after_its_deadline() -> None:
    """Seed 1102859 (deletions): the writer let go on an observation made while the other
    region was cut off, which answered again a moment later: no Cluster was left primary."""
    state, verdict = waiting(
        DeletionGrace(), UNOBSERVED, now=100.0, period=PERIOD, renewals=RENEWALS, observed_at=95.0
    )
    assert (verdict, state.deadline(UNOBSERVED)) == (WAIT, 160.0)
    # Past the deadline on a look begun before it: one more look first ...
    state, verdict = waiting(
        state, UNOBSERVED, now=165.0, period=PERIOD, renewals=RENEWALS, observed_at=155.0
    )
    assert verdict == WAIT
    # ... and a look begun after it decides.
    state, verdict = waiting(
        state, UNOBSERVED, now=172.0, period=PERIOD, renewals=RENEWALS, observed_at=161.0
    )
    assert verdict == RAN_OUT


def test_the_wait_for_a_fresh_look_is_bounded_and_only_for_what_was_not_read() -> None:
    state, _ = waiting(
        DeletionGrace(), UNOBSERVED, now=100.0, period=PERIOD, renewals=RENEWALS, observed_at=95.0
    )
    # No observation after the deadline within two periods: the grace runs out anyway.
    state, verdict = waiting(
        state, UNOBSERVED, now=179.9, period=PERIOD, renewals=RENEWALS, observed_at=155.0
    )
    assert verdict == WAIT
    state, verdict = waiting(
        state, UNOBSERVED, now=180.0, period=PERIOD, renewals=RENEWALS, observed_at=155.0
    )
    assert verdict == RAN_OUT
    # Other kinds run out on the deadline, whatever the age of the last look.
    other, _ = waiting(
        DeletionGrace(), CONVERGE, now=100.0, period=PERIOD, renewals=RENEWALS, observed_at=95.0
    )
    other, verdict = waiting(
        other, CONVERGE, now=160.0, period=PERIOD, renewals=RENEWALS, observed_at=150.0
    )
    assert verdict == RAN_OUT
