"""The status-write retry rule as a pure function: backoff, one armed retry, reset."""

from __future__ import annotations

from continuum.core.status_retry import Arm, Disarm, StatusRetry, backoff, decide

CAP = 10.0


def test_the_backoff_starts_at_half_a_second_and_doubles_up_to_the_cap() -> None:
    assert [backoff(n, cap=CAP) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff(10_000, cap=CAP) == CAP


def test_a_failed_write_arms_a_retry_after_the_backoff() -> None:
    state, timer = decide(StatusRetry(), "failed", cap=CAP)
    assert timer == Arm(delay=0.5)
    assert state == StatusRetry(failures=1, armed=True)


def test_a_failure_while_a_retry_is_armed_arms_nothing_but_counts() -> None:
    state, _ = decide(StatusRetry(), "failed", cap=CAP)
    state, timer = decide(state, "failed", cap=CAP)
    assert timer is None
    assert state == StatusRetry(failures=2, armed=True)
    state, timer = decide(state, "fired", cap=CAP)
    assert timer is None
    state, timer = decide(state, "failed", cap=CAP)
    assert timer == Arm(delay=2.0)  # the third failure in a row


def test_consecutive_failures_of_the_retry_double_the_delay() -> None:
    state, delays = StatusRetry(), []
    for _ in range(7):
        state, timer = decide(state, "failed", cap=CAP)
        assert isinstance(timer, Arm)
        delays.append(timer.delay)
        state, _ = decide(state, "fired", cap=CAP)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_a_landed_write_disarms_the_retry_and_starts_the_backoff_over() -> None:
    state, _ = decide(StatusRetry(), "failed", cap=CAP)
    state, _ = decide(state, "failed", cap=CAP)
    state, timer = decide(state, "landed", cap=CAP)
    assert timer == Disarm()
    assert state == StatusRetry()
    _, timer = decide(state, "failed", cap=CAP)
    assert timer == Arm(delay=0.5)


def test_a_landed_write_with_nothing_armed_touches_no_timer() -> None:
    state, timer = decide(StatusRetry(), "landed", cap=CAP)
    assert timer is None
    assert state == StatusRetry()
