"""Which halves count as a stale primary once a partitioned region answers again."""

from __future__ import annotations

from continuum.actors.continuum.stale import stale_primaries
from continuum.messages.switchover import PairHalf, PairState


def _half(region: str, primary: str, *, error: str = "") -> PairHalf:
    return PairHalf(
        region=region,
        name=f"pg-{region}",
        namespace="ns",
        replica_primary=f"pg-{primary}" if not error else "",
        replica_self=f"pg-{region}" if not error else "",
        error=error,
    )


def test_other_half_still_acting_as_primary_is_stale_when_the_writer_is_primary() -> None:
    state = PairState(halves=(_half("a", "a"), _half("b", "b")))
    assert stale_primaries(state, writer="b") == ["a"]


def test_nothing_is_stale_while_the_writer_half_is_not_yet_primary() -> None:
    state = PairState(halves=(_half("a", "a"), _half("b", "a")))
    assert stale_primaries(state, writer="b") == []


def test_an_unreadable_half_is_never_called_stale() -> None:
    state = PairState(halves=(_half("a", "", error="503"), _half("b", "b")))
    assert stale_primaries(state, writer="b") == []


def test_a_demoted_half_pointing_at_the_writer_is_not_stale() -> None:
    state = PairState(halves=(_half("a", "b"), _half("b", "b")))
    assert stale_primaries(state, writer="b") == []
