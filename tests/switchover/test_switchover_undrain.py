"""The undo of a drain whose answer never came, as a pure rule (``switchover/undrain.py``):
never every backend at 0, never an older drain's record over a copy that still serves."""

from __future__ import annotations

from continuum.messages.switchover import RouteState
from continuum.switchover.undrain import undo_drain

A, B = "fsn", "hel"
REGIONS = (A, B)
ZERO = {"shop-fsn": 0, "shop-hel": 0}


def undo(weights: dict[str, int], record: dict[str, int] | None = None, towards: str = A) -> object:
    state = RouteState(weights=weights, before_drain=record)
    return undo_drain(state, regions=REGIONS, towards=towards)


def test_a_copy_left_serving_nothing_gets_the_weights_recorded_before_the_drain() -> None:
    assert undo(ZERO, {"shop-fsn": 100, "shop-hel": 0}) == {"shop-fsn": 100, "shop-hel": 0}


def test_a_copy_still_serving_the_source_is_left_as_it_is_whatever_its_record() -> None:
    """The drain did not land: the record is an older drain's."""
    for weights in ({"shop-fsn": 100, "shop-hel": 0}, {"shop-fsn": 50, "shop-hel": 50}):
        assert undo(weights, {"shop-fsn": 0, "shop-hel": 100}) is None
        assert undo(weights) is None


def test_a_copy_the_drain_and_the_shift_switched_to_the_target_is_given_back() -> None:
    """Seed 311285 (``--deletions``): the run was killed right after the shift that follows
    the drain; its prior weights were lost with the process, and the copy, serving only the
    target, was left so although the run rolled back."""
    shifted = {"shop-fsn": 0, "shop-hel": 1}
    assert undo(shifted, {"shop-fsn": 100, "shop-hel": 0}) == {"shop-fsn": 100, "shop-hel": 0}
    assert undo(shifted) == {"shop-fsn": 1, "shop-hel": 0}  # one write: never all at 0


def test_without_a_record_that_fits_the_source_its_backends_get_weight_one() -> None:
    """No record, one of the other region's tenure, a split one, one naming other backends:
    the source region's backends at 1, the others at 0 — never every backend at 0."""
    for record in (
        None,
        {"shop-fsn": 0, "shop-hel": 100},
        {"shop-fsn": 50, "shop-hel": 50},
        {"shop-fsn": 100},
        {"shop-fsn": 0, "shop-hel": 0},
    ):
        assert undo(ZERO, record) == {"shop-fsn": 1}, record


def test_the_record_is_judged_against_the_region_the_run_rolls_back_to() -> None:
    record = {"shop-fsn": 0, "shop-hel": 100}
    assert undo(ZERO, record, towards=B) == record
    assert undo(ZERO, record, towards=A) == {"shop-fsn": 1}


def test_a_copy_with_no_backend_of_the_source_gets_nothing() -> None:
    assert undo({"shop-hel": 0}) is None
