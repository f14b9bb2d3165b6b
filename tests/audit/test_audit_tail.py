"""AuditTail over a real JetStream: finds a stored event, reports a missing one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import nats
import pytest

from continuum.adapters.nats import AuditStreamSpec, JetStreamAuditTail, JetStreamAuditTransport
from continuum.clock import FakeClock
from continuum.errors import AuditUnavailable
from continuum.messages.audit import AuditEvent, AuditType, new_event
from continuum.ports import AuditTail
from continuum_sim.nats import NatsServer

pytestmark = pytest.mark.anyio


@pytest.fixture
async def tail(nats_server: NatsServer, clock: FakeClock) -> AsyncIterator[JetStreamAuditTail]:
    reader = JetStreamAuditTail(nats_server.url, clock=clock, timeout=0.5)
    try:
        yield reader
    finally:
        await reader.aclose()


async def store(transport: JetStreamAuditTransport, *events: AuditEvent) -> None:
    await transport.setup()
    for event in events:
        await transport.publish(event)


def switchover(cr: str, run: str, *, at: datetime | None = None) -> AuditEvent:
    return new_event(
        AuditType.SWITCHOVER,
        continuum=cr,
        occurred_at=at or datetime.now(UTC),
        identity=(run, "7/7"),
        fromPrimary="fsn",
        toPrimary="hel",
    )


async def test_tail_implements_the_port(tail: JetStreamAuditTail) -> None:
    assert isinstance(tail, JetStreamAuditTail)
    port: AuditTail = tail
    assert port is tail


async def test_tail_finds_a_posted_event_by_id(
    tail: JetStreamAuditTail, transport: JetStreamAuditTransport
) -> None:
    wanted = switchover("ns/a", "run-2")
    await store(transport, switchover("ns/a", "run-1"), wanted, switchover("ns/b", "run-3"))
    assert await tail.find(event_id=wanted.eventId) == wanted


async def test_tail_finds_by_type_and_continuum_after_a_time(
    tail: JetStreamAuditTail, transport: JetStreamAuditTransport
) -> None:
    now = datetime.now(UTC)
    old = switchover("ns/a", "old", at=now - timedelta(seconds=60))
    new = switchover("ns/a", "new", at=now)
    lease = new_event(AuditType.LEASE_ACQUIRED, continuum="ns/a", occurred_at=now)
    await store(transport, old, lease, switchover("ns/b", "x"), new)
    found = await tail.find(
        type=AuditType.SWITCHOVER, continuum="ns/a", since=now - timedelta(seconds=1)
    )
    assert found == new
    assert await tail.find(type=AuditType.LEASE_ACQUIRED, continuum="ns/a") == lease


async def test_tail_reports_a_missing_event_as_none(
    tail: JetStreamAuditTail, transport: JetStreamAuditTransport
) -> None:
    await store(transport, switchover("ns/a", "run-1"))
    assert await tail.find(event_id="0" * 32) is None
    assert await tail.find(type=AuditType.SWITCHOVER, continuum="ns/zzz") is None


async def test_tail_on_an_empty_stream_finds_nothing(
    tail: JetStreamAuditTail, transport: JetStreamAuditTransport
) -> None:
    await transport.setup()
    assert await tail.find(type=AuditType.SWITCHOVER) is None


async def test_tail_does_not_look_back_past_its_window(
    nats_server: NatsServer, transport: JetStreamAuditTransport
) -> None:
    await store(transport, switchover("ns/a", "run-1"))
    later = FakeClock(wall_start=datetime.now(UTC) + timedelta(minutes=10))
    reader = JetStreamAuditTail(nats_server.url, clock=later, lookback=300, timeout=0.5)
    try:
        assert await reader.find(continuum="ns/a") is None
    finally:
        await reader.aclose()


async def test_tail_skips_foreign_messages_on_the_subject(
    tail: JetStreamAuditTail, transport: JetStreamAuditTransport, nats_server: NatsServer
) -> None:
    await transport.setup()
    nc = await nats.connect(nats_server.url)
    try:
        await nc.jetstream().publish("catalyst.audit", b"not json")
    finally:
        await nc.close()
    wanted = switchover("ns/a", "run-1")
    await transport.publish(wanted)
    assert await tail.find(continuum="ns/a") == wanted


async def test_tail_raises_audit_unavailable_when_nats_is_down(
    tail: JetStreamAuditTail, nats_server: NatsServer
) -> None:
    await nats_server.stop()
    with pytest.raises(AuditUnavailable, match="cannot connect"):
        await tail.find(type=AuditType.SWITCHOVER)


async def test_tail_raises_audit_unavailable_when_the_stream_is_missing(
    tail: JetStreamAuditTail,
) -> None:
    with pytest.raises(AuditUnavailable, match="CATALYST_AUDIT"):
        await tail.find(type=AuditType.SWITCHOVER)


def test_default_stream_spec_names_the_catalyst_audit_stream() -> None:
    assert AuditStreamSpec().name == "CATALYST_AUDIT"
