"""The managed-role re-assert rule as a pure function (controller.md §7): who touches which
role Secrets after a change of acting primary, and when the watermark moves."""

from __future__ import annotations

import pytest

from continuum.core.roles import TouchRoleSecrets, acting_half, decide_roles
from continuum.messages.switchover import PairHalf, PairState

A, B = "fsn", "hel"
SECRETS = {A: ("app-password", "report-password"), B: ("app-password",)}


def half(region: str, *, primary: bool, error: str = "", secrets: bool = True) -> PairHalf:
    name = f"pg-{region}"
    other = f"pg-{B if region == A else A}"
    return PairHalf(
        region=region,
        name=name,
        namespace="ns",
        ready=True,
        replica_self=name,
        replica_primary=name if primary else other,
        role_secrets=SECRETS[region] if secrets else (),
        error=error,
    )


def pair(primary: str | None, *, both: bool = False) -> PairState:
    return PairState(
        halves=(
            half(A, primary=both or primary == A),
            half(B, primary=both or primary == B),
        )
    )


def touch_of(region: str) -> TouchRoleSecrets:
    return TouchRoleSecrets(
        region=region, namespace="ns", cluster=f"pg-{region}", secrets=SECRETS[region]
    )


def test_the_first_observation_of_a_fresh_instance_touches_the_acting_primary() -> None:
    watermark, touch = decide_roles("", pair(A), region=A, acting=True, run_under_way=False)
    assert touch == touch_of(A)
    assert watermark == ""  # advanced by the caller only once the touch succeeded


def test_no_touch_again_while_the_acting_primary_is_the_watermark() -> None:
    for acting in (True, False):
        watermark, touch = decide_roles(A, pair(A), region=A, acting=acting, run_under_way=False)
        assert (watermark, touch) == (A, None)


@pytest.mark.parametrize(
    "state",
    [
        pair(None, both=True),
        pair(None),
        PairState(halves=(half(A, primary=True), half(B, primary=False, error="unreachable"))),
        PairState(halves=()),
    ],
    ids=["both-primary", "neither-primary", "a-half-unreadable", "no-halves"],
)
def test_an_ambiguous_pair_touches_nothing_and_keeps_the_watermark(state: PairState) -> None:
    assert acting_half(state) is None
    for watermark in ("", B):
        assert decide_roles(watermark, state, region=A, acting=True, run_under_way=False) == (
            watermark,
            None,
        )


def test_only_the_acting_instance_touches_and_only_its_own_half() -> None:
    # A standby instance never touches; it forgets the watermark, so it touches once when it
    # acts for a primary it has not touched for.
    assert decide_roles(A, pair(B), region=A, acting=False, run_under_way=False) == ("", None)
    # Acting, but the pair still names the other half: not yet (the run or convergence moves it).
    assert decide_roles(A, pair(B), region=A, acting=True, run_under_way=False) == (A, None)


def test_a_run_under_way_clears_the_watermark_so_whoever_acts_after_it_touches_once() -> None:
    assert decide_roles(A, pair(A), region=A, acting=True, run_under_way=True) == ("", None)
    # Rolled back: A acts again over its own half, which was demoted and promoted back.
    _, touch = decide_roles("", pair(A), region=A, acting=True, run_under_way=False)
    assert touch == touch_of(A)


def test_a_switchover_and_the_failback_each_touch_the_new_primary_once() -> None:
    a_mark = b_mark = ""
    # A acts: first observation touches A.
    a_mark, touch = decide_roles(a_mark, pair(A), region=A, acting=True, run_under_way=False)
    assert touch == touch_of(A)
    a_mark = touch.region
    b_mark, touch = decide_roles(b_mark, pair(A), region=B, acting=False, run_under_way=False)
    assert touch is None
    # Switched over to B: B's instance acts and touches B once; A's forgets its watermark.
    a_mark, touch = decide_roles(a_mark, pair(B), region=A, acting=False, run_under_way=False)
    assert (a_mark, touch) == ("", None)
    b_mark, touch = decide_roles(b_mark, pair(B), region=B, acting=True, run_under_way=False)
    assert touch == touch_of(B)
    b_mark = touch.region
    assert decide_roles(b_mark, pair(B), region=B, acting=True, run_under_way=False) == (B, None)
    # Failback to A: A touches again, with a new stamp (the caller's clock).
    b_mark, touch = decide_roles(b_mark, pair(A), region=B, acting=False, run_under_way=False)
    assert touch is None
    _, touch = decide_roles(a_mark, pair(A), region=A, acting=True, run_under_way=False)
    assert touch == touch_of(A)


def test_a_primary_without_managed_roles_is_a_touch_of_nothing() -> None:
    state = PairState(halves=(half(A, primary=True, secrets=False), half(B, primary=False)))
    _, touch = decide_roles("", state, region=A, acting=True, run_under_way=False)
    assert touch == TouchRoleSecrets(region=A, namespace="ns", cluster="pg-fsn", secrets=())


def test_the_acting_half_is_the_one_whose_live_spec_makes_it_primary() -> None:
    found = acting_half(pair(A))
    assert found is not None
    assert found.region == A
    found = acting_half(pair(B))
    assert found is not None
    assert found.region == B
    assert acting_half(pair(None, both=True)) is None
    assert acting_half(pair(None)) is None
