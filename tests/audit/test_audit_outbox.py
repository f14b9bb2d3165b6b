"""The outbox's per-CR ordering rules and the reconcile-success throttle (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from continuum.audit.outbox import AuditOutbox, ReconcileSuccessThrottle
from continuum.messages.audit import AuditEvent, AuditType, new_event


def ev(cr: str, n: int) -> AuditEvent:
    return new_event(
        AuditType.RECONCILE_SUCCESS,
        continuum=cr,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        identity=(n,),
    )


def ids(batch: list[object]) -> list[str]:
    return [p.event.eventId for p in batch]  # type: ignore[attr-defined]


def test_take_hands_out_one_event_per_cr_in_acceptance_order() -> None:
    box = AuditOutbox(10)
    for event in (ev("a", 1), ev("b", 1), ev("a", 2), ev("c", 1)):
        box.add(event, now=0)
    batch = box.take(10, now=0)
    assert ids(batch) == [ev("a", 1).eventId, ev("b", 1).eventId, ev("c", 1).eventId]
    assert box.take(10, now=0) == []  # a's second waits for a's first


def test_next_event_of_a_cr_is_released_only_by_the_ack_of_the_previous() -> None:
    box = AuditOutbox(10)
    box.add(ev("a", 1), now=0)
    box.add(ev("a", 2), now=0)
    (first,) = box.take(5, now=0)
    assert box.stored("a", ev("a", 2).eventId) is None  # not the head: stale result ignored
    assert box.stored("a", first.event.eventId) is first
    assert ids(box.take(5, now=1)) == [ev("a", 2).eventId]
    assert len(box) == 1


def test_a_failed_event_is_retried_before_anything_behind_it() -> None:
    box = AuditOutbox(10)
    box.add(ev("a", 1), now=0)
    box.add(ev("a", 2), now=0)
    box.add(ev("b", 1), now=0)
    first, _ = box.take(5, now=0)
    assert box.failed("a", first.event.eventId, attempt=1, error="boom")
    assert not box.failed("a", first.event.eventId, attempt=1, error="again")  # stale
    (retry,) = box.take(5, now=1)
    assert retry is first
    assert retry.attempts == 2
    assert retry.last_error == "boom"


def test_a_late_ack_for_an_event_waiting_to_be_retried_still_counts_as_stored() -> None:
    box = AuditOutbox(10)
    box.add(ev("a", 1), now=0)
    box.add(ev("a", 2), now=0)
    (first,) = box.take(5, now=0)
    box.fail_in_flight("connection lost")
    assert box.stored("a", first.event.eventId) is first
    assert ids(box.take(5, now=0)) == [ev("a", 2).eventId]


def test_overdue_lists_in_flight_events_past_the_ack_timeout() -> None:
    box = AuditOutbox(10)
    box.add(ev("a", 1), now=0)
    box.add(ev("b", 1), now=0)
    box.take(1, now=0)
    box.take(1, now=4)
    assert [p.continuum for p in box.overdue(now=5.5, timeout=5)] == ["a"]


def test_full_is_reported_at_the_limit_and_nothing_is_refused() -> None:
    box = AuditOutbox(2)
    box.add(ev("a", 1), now=0)
    assert not box.full
    box.add(ev("a", 2), now=0)
    box.add(ev("a", 3), now=0)
    assert box.full
    assert len(box) == 3
    assert len(box.drop_all()) == 3
    assert len(box) == 0


def test_throttle_emits_on_first_tick_on_change_and_on_heartbeat_only() -> None:
    throttle = ReconcileSuccessThrottle(heartbeat=600)
    decisions = [
        throttle.should_emit(("fsn", True), now=0),
        throttle.should_emit(("fsn", True), now=10),
        throttle.should_emit(("fsn", True), now=599),
        throttle.should_emit(("hel", True), now=600),
        throttle.should_emit(("hel", True), now=700),
        throttle.should_emit(("hel", True), now=1200),
    ]
    assert decisions == [True, False, False, True, False, True]
    throttle.reset()
    assert throttle.should_emit(("hel", True), now=1201)


def test_throttle_rejects_a_non_positive_heartbeat() -> None:
    with pytest.raises(ValueError, match="heartbeat"):
        ReconcileSuccessThrottle(heartbeat=0)
