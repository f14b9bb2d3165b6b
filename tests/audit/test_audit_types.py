"""The audit types (index-pinned, append-only) and the envelope's wire shape."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from continuum.messages.audit import (
    AUDIT_TYPES,
    AuditEvent,
    AuditType,
    audit_headers,
    decode_event,
    encode_event,
    event_id,
    format_timestamp,
    new_event,
    parse_timestamp,
)

PINNED = [
    (0, "continuum-switchover"),
    (1, "continuum-failback-pending"),
    (2, "continuum-failback-completed"),
    (3, "continuum-lease-lost"),
    (4, "continuum-lease-acquired"),
    (5, "continuum-cnpg-lag-breach"),
    (6, "continuum-cnpg-promotable"),
    (7, "continuum-error"),
    (8, "continuum-reconcile-success"),
    (9, "continuum-cr-created"),
    (10, "continuum-config-changed"),
    (11, "continuum-lease-collision"),
]

MOMENT = datetime(2026, 5, 9, 1, 2, 3, 123456, tzinfo=UTC)


@pytest.mark.parametrize(("index", "value"), PINNED)
def test_audit_type_index_is_pinned(index: int, value: str) -> None:
    assert AUDIT_TYPES[index].value == value


def test_there_are_exactly_the_twelve_seed_types_nine_original_then_f1() -> None:
    assert len(AUDIT_TYPES) == 12
    assert [t.value for t in AUDIT_TYPES] == [v for _, v in PINNED]
    assert AUDIT_TYPES[9:] == (
        AuditType.CR_CREATED,
        AuditType.CONFIG_CHANGED,
        AuditType.LEASE_COLLISION,
    )


def test_every_type_starts_with_the_continuum_prefix_subscribers_filter_on() -> None:
    assert all(t.value.startswith("continuum-") for t in AUDIT_TYPES)


@pytest.mark.parametrize("audit_type", AUDIT_TYPES)
def test_every_type_round_trips_through_json(audit_type: AuditType) -> None:
    event = new_event(
        audit_type,
        continuum="shop/orders",
        occurred_at=MOMENT,
        identity=("run-1", "7/7"),
        applicationName="orders",
        fromPrimary="fsn",
        toPrimary="hel",
        lagSeconds=3,
        step="7/7",
        reason="operator-requested",
        message="switchover fsn → hel completed",
        initiatedBy="ops@example.com",
        epoch=42,
        region="hel",
    )
    assert decode_event(encode_event(event)) == event


def test_empty_optional_fields_are_omitted_and_order_follows_the_reference() -> None:
    event = new_event(AuditType.LEASE_ACQUIRED, continuum="ns/a", occurred_at=MOMENT)
    body = msgspec.json.decode(encode_event(event))
    assert list(body) == ["type", "continuumName", "timestamp", "eventId", "occurredAt"]
    full = new_event(
        AuditType.SWITCHOVER,
        continuum="ns/a",
        occurred_at=MOMENT,
        applicationName="app",
        toPrimary="hel",
        reason="r",
        epoch=1,
    )
    keys = list(msgspec.json.decode(encode_event(full)))
    assert keys == [
        "type",
        "continuumName",
        "applicationName",
        "toPrimary",
        "reason",
        "timestamp",
        "eventId",
        "epoch",
        "occurredAt",
    ]


def _body(**overrides: object) -> bytes:
    base: dict[str, object] = {
        "type": "continuum-error",
        "continuumName": "a/b",
        "timestamp": "t",
        "eventId": "e",
    }
    base.update(overrides)
    return msgspec.json.encode({k: v for k, v in base.items() if v is not None})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_body(type="continuum-nope"), "type"),
        (_body(continuumName=""), "continuumName"),
        (_body(timestamp=""), "timestamp"),
        (_body(eventId=None), "eventId"),
    ],
)
def test_decoding_rejects_an_invalid_envelope_naming_the_field(body: bytes, field: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=field):
        decode_event(body)


def test_caller_supplied_timestamp_is_kept_verbatim() -> None:
    event = AuditEvent(
        type=AuditType.ERROR, continuumName="a/b", timestamp="not-a-time", eventId="x"
    )
    assert decode_event(encode_event(event)).timestamp == "not-a-time"


def test_event_id_is_deterministic_per_occurrence_and_differs_between_occurrences() -> None:
    a = new_event(AuditType.SWITCHOVER, continuum="ns/a", occurred_at=MOMENT, identity=("r1",))
    retry = new_event(
        AuditType.SWITCHOVER, continuum="ns/a", occurred_at=datetime.now(UTC), identity=("r1",)
    )
    other = new_event(AuditType.SWITCHOVER, continuum="ns/a", occurred_at=MOMENT, identity=("r2",))
    assert a.eventId == retry.eventId
    assert a.eventId != other.eventId
    assert event_id("x", 1) == event_id("x", 1) != event_id("x", 2)


def test_headers_carry_type_names_and_the_dedup_id() -> None:
    event = new_event(
        AuditType.CR_CREATED, continuum="ns/a", occurred_at=MOMENT, applicationName=""
    )
    assert audit_headers(event) == {
        "audit-type": "continuum-cr-created",
        "continuum-name": "ns/a",
        "application-name": "",
        "Nats-Msg-Id": event.eventId,
    }


def test_timestamps_are_utc_rfc3339_with_trimmed_fraction() -> None:
    assert format_timestamp(MOMENT) == "2026-05-09T01:02:03.123456Z"
    assert format_timestamp(MOMENT.replace(microsecond=0)) == "2026-05-09T01:02:03Z"
    assert format_timestamp(MOMENT.replace(microsecond=500000)) == "2026-05-09T01:02:03.5Z"
    assert parse_timestamp("2026-05-09T01:02:03.123456789Z") == MOMENT
    assert parse_timestamp("2026-05-09T03:02:03+02:00") == MOMENT.replace(microsecond=0)
    assert parse_timestamp("yesterday") is None
    assert parse_timestamp("2026-05-09T01:02:03") is None
