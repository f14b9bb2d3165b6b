"""The failback approval gate (``continuum/core/failback.py``): a wait (new or going on),
the hold-off after a timeout, the timeout itself, and the failback that runs, gated or not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from continuum.core.failback import (
    COND_FAILBACK_APPROVAL,
    REASON_AWAITING,
    REASON_TIMED_OUT,
    Announce,
    ClearRequest,
    EmitTimeout,
    GateFacts,
    Runs,
    SetCondition,
    TimedOut,
    Waits,
    decide,
    gave_up,
    pending_since,
)
from continuum.messages.status import Condition

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
A, B = "region-a", "region-b"


def _cond(status: str, reason: str, generation: int | None = 3) -> Condition:
    return Condition(
        type=COND_FAILBACK_APPROVAL,
        status=status,  # type: ignore[arg-type]
        reason=reason,
        last_transition_time=SINCE,
        observed_generation=generation,
    )


AWAITING = _cond("False", REASON_AWAITING)
TIMED_OUT = _cond("False", REASON_TIMED_OUT)


@pytest.mark.parametrize(
    ("condition", "since"),
    [
        (None, None),
        (AWAITING, SINCE),
        (TIMED_OUT, None),
        (_cond("True", "Approved"), None),
        (_cond("True", REASON_AWAITING), None),
    ],
)
def test_a_wait_is_on_only_while_the_condition_says_awaiting(
    condition: Condition | None, since: datetime | None
) -> None:
    assert pending_since(condition) == since


@pytest.mark.parametrize(
    ("condition", "generation", "expected"),
    [
        (None, 3, False),
        (AWAITING, 3, False),
        (TIMED_OUT, 3, True),
        (TIMED_OUT, 4, False),  # a new spec: the request may wait again
    ],
)
def test_a_request_is_given_up_for_the_generation_that_timed_out(
    condition: Condition | None, generation: int, expected: bool
) -> None:
    assert gave_up(condition, generation) is expected


def test_a_new_wait_is_announced_and_starts_the_condition_afresh() -> None:
    facts = GateFacts(condition=None, generation=3, approval_timeout_seconds=600)
    assert decide(facts, Waits(from_region=B, to_region=A)) == [
        Announce(from_region=B, to_region=A),
        SetCondition(
            status="False",
            reason=REASON_AWAITING,
            message=f"failback {B} -> {A} awaits spec.failback.approved; given up after 600s",
            fresh=True,
        ),
    ]


def test_a_wait_going_on_keeps_its_start() -> None:
    facts = GateFacts(condition=AWAITING, generation=3)
    effects = decide(facts, Waits(from_region=B, to_region=A))
    condition = effects[-1]
    assert isinstance(condition, SetCondition)
    assert condition.fresh is False
    assert condition.message == f"failback {B} -> {A} awaits spec.failback.approved"


def test_a_request_given_up_is_not_waited_for_again_until_the_spec_changes() -> None:
    waits = Waits(from_region=B, to_region=A)
    assert decide(GateFacts(condition=TIMED_OUT, generation=3), waits) == []
    assert decide(GateFacts(condition=TIMED_OUT, generation=4), waits)[0] == Announce(
        from_region=B, to_region=A
    )


def test_a_timeout_sets_the_condition_audits_and_clears_the_request() -> None:
    facts = GateFacts(condition=AWAITING, generation=3, approval_timeout_seconds=600)
    message = (
        f"failback approval timeout: {B} -> {A} not approved within 600s (waited 601s); "
        "the request was cleared"
    )
    assert decide(facts, TimedOut(from_region=B, to_region=A, waited=601.2)) == [
        SetCondition(status="False", reason=REASON_TIMED_OUT, message=message),
        EmitTimeout(from_region=B, to_region=A, message=message, waited=601.2, generation=3),
        ClearRequest(),
    ]


@pytest.mark.parametrize(
    ("require_approval", "expected"),
    [
        (True, [SetCondition(status="True", reason="Approved", message="failback approved")]),
        (
            False,
            [
                Announce(from_region=B, to_region=A),
                SetCondition(
                    status="True",
                    reason="NotRequired",
                    message="failback runs without approval (requireApproval: false)",
                ),
            ],
        ),
    ],
)
def test_a_failback_that_runs_turns_the_condition_true(
    require_approval: bool, expected: list[object]
) -> None:
    facts = GateFacts(condition=AWAITING, generation=3, require_approval=require_approval)
    assert decide(facts, Runs(from_region=B, to_region=A)) == expected


CONDITIONS = st.sampled_from([None, AWAITING, TIMED_OUT, _cond("True", "Approved")])


@given(condition=CONDITIONS, generation=st.sampled_from([None, 3, 4]))
def test_a_wait_either_does_nothing_or_announces_before_setting_the_condition(
    condition: Condition | None, generation: int | None
) -> None:
    effects = decide(
        GateFacts(condition=condition, generation=generation), Waits(from_region=B, to_region=A)
    )
    if gave_up(condition, generation):
        assert effects == []
    else:
        assert [type(e) for e in effects] == [Announce, SetCondition]
        last = effects[-1]
        assert isinstance(last, SetCondition)
        assert last.fresh is (pending_since(condition) is None)
