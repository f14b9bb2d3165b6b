"""The AuditPublisher against a real JetStream: headers, de-dup, per-CR order, outages,
the outbox limit, delivery state and the shutdown flush."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import anyio
import anyio.lowlevel
import pytest
from nats.aio.client import Client as NatsClient

from continuum.actors.runtime import run_actor
from continuum.adapters.nats import AuditStreamSpec, JetStreamAuditTransport
from continuum.audit import (
    AuditPublisher,
    AuditPublisherOptions,
    AuditPublisherSink,
    FlushAudit,
    run_audit_publisher,
)
from continuum.clock import FakeClock
from continuum.errors import AuditUnavailable
from continuum.messages.audit import AuditEvent, AuditType, new_event
from continuum_sim.nats import NatsServer
from tests.audit.conftest import Drive, ReadStream, emitting_in_background

pytestmark = pytest.mark.anyio

FAST = AuditPublisherOptions(ack_timeout=2.0, tick=0.25, backoff_initial=0.1, backoff_max=0.5)


def ev(cr: str, n: int, *, app: str = "shop") -> AuditEvent:
    return new_event(
        AuditType.CONFIG_CHANGED,
        continuum=cr,
        occurred_at=datetime.now(UTC),
        identity=(n,),
        applicationName=app,
        message=f"event {n}",
    )


@asynccontextmanager
async def publisher(
    transport: JetStreamAuditTransport,
    clock: FakeClock,
    options: AuditPublisherOptions = FAST,
) -> AsyncIterator[AuditPublisherSink]:
    """Run a publisher; on exit, fake time jumps whenever everything waits, so the
    shutdown flush reaches its bound even when NATS is down (or the test failed)."""
    async with anyio.create_task_group() as tg:
        async with run_audit_publisher(transport, clock=clock, options=options) as sink:
            try:
                yield sink
            finally:
                tg.start_soon(lambda: clock.autojump(threshold=0.01))
        tg.cancel_scope.cancel()


def order_by_cr(stored: list[tuple[dict[str, str], AuditEvent]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for _, event in stored:
        out.setdefault(event.continuumName, []).append(event.message)
    return out


async def test_event_is_stored_with_headers_and_msg_id(
    transport: JetStreamAuditTransport, clock: FakeClock, drive: Drive, read_stream: ReadStream
) -> None:
    event = ev("shop/orders", 1, app="orders")
    async with publisher(transport, clock) as sink:
        await sink.emit(event)
        await drive(lambda: sink.status().stored == 1)
    ((headers, stored),) = await read_stream()
    assert stored == event
    assert headers["audit-type"] == "continuum-config-changed"
    assert headers["continuum-name"] == "shop/orders"
    assert headers["application-name"] == "orders"
    assert headers["Nats-Msg-Id"] == event.eventId


async def test_a_retried_event_is_stored_once(
    transport: JetStreamAuditTransport, clock: FakeClock, drive: Drive, read_stream: ReadStream
) -> None:
    event = ev("shop/orders", 1)
    async with publisher(transport, clock) as sink:
        await sink.emit(event)
        await sink.emit(event)  # the caller retried: same occurrence, same eventId
        await drive(lambda: sink.status().stored == 2)
        assert sink.status().duplicates == 1
    assert [e.eventId for _, e in await read_stream()] == [event.eventId]


async def test_per_cr_order_holds_under_concurrent_emitters(
    transport: JetStreamAuditTransport, clock: FakeClock, drive: Drive, read_stream: ReadStream
) -> None:
    crs = [f"ns/cr-{i}" for i in range(20)]
    async with publisher(transport, clock) as sink:

        async def emitter(cr: str) -> None:
            for n in range(30):
                await sink.emit(ev(cr, n))
                if n % 7 == 0:
                    await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as tg:
            for cr in crs:
                tg.start_soon(emitter, cr)
        await drive(lambda: sink.status().stored == 600)
    stored = await read_stream()
    assert len(stored) == 600
    assert order_by_cr(stored) == {cr: [f"event {n}" for n in range(30)] for cr in crs}


async def test_server_killed_and_restarted_mid_stream_loses_nothing_and_keeps_order(
    nats_server: NatsServer,
    transport: JetStreamAuditTransport,
    clock: FakeClock,
    drive: Drive,
    read_stream: ReadStream,
) -> None:
    crs = [f"ns/cr-{i}" for i in range(5)]
    total = 0
    async with publisher(transport, clock) as sink:
        for n in range(40):
            for cr in crs:
                await sink.emit(ev(cr, n))
                total += 1
            if n == 10:
                await nats_server.kill()
            if n == 25:
                await nats_server.start()
            await anyio.sleep(0.002)
        await drive(lambda: sink.status().stored == total and sink.status().outbox == 0)
        status = sink.status()
        assert status.failures > 0  # the outage was real
    stored = await read_stream()
    ids = [e.eventId for _, e in stored]
    assert len(ids) == len(set(ids)) == total
    assert order_by_cr(stored) == {cr: [f"event {n}" for n in range(40)] for cr in crs}


async def test_outbox_survives_a_start_without_nats_and_drains_in_order(
    nats_server: NatsServer,
    transport: JetStreamAuditTransport,
    clock: FakeClock,
    drive: Drive,
    read_stream: ReadStream,
) -> None:
    await nats_server.stop()
    async with publisher(transport, clock) as sink:
        for n in range(10):
            await sink.emit(ev("ns/a", n))
        await drive(lambda: sink.status().failures > 0)
        assert sink.status().outbox == 10
        assert not sink.status().connected
        await nats_server.start()
        await drive(lambda: sink.status().outbox == 0)
    assert [e.message for _, e in await read_stream()] == [f"event {n}" for n in range(10)]


async def test_full_outbox_makes_emit_wait_reports_it_and_drops_nothing(
    nats_server: NatsServer,
    transport: JetStreamAuditTransport,
    clock: FakeClock,
    drive: Drive,
    read_stream: ReadStream,
) -> None:
    await nats_server.stop()
    options = AuditPublisherOptions(outbox_limit=5, tick=0.25, backoff_max=0.5)
    async with publisher(transport, clock, options) as sink:
        for n in range(5):
            await sink.emit(ev("ns/a", n))
        assert not sink.try_emit(ev("ns/a", 99))
        async with emitting_in_background(sink.emit, ev("ns/a", 5)) as emitted:
            status = sink.status()
            assert not emitted.is_set()
            assert status.full
            assert not status.ready
            assert not sink.ready()
            assert status.blocked_emitters == 1
            assert status.outbox == 5
            await nats_server.start()
            await drive(emitted.is_set)
        await drive(lambda: sink.status().outbox == 0)
        assert sink.ready()
    assert [e.message for _, e in await read_stream()] == [f"event {n}" for n in range(6)]


async def test_delivery_state_turns_false_when_events_go_stale_and_true_once_stored(
    nats_server: NatsServer,
    transport: JetStreamAuditTransport,
    clock: FakeClock,
    drive: Drive,
) -> None:
    options = AuditPublisherOptions(stale_after=10.0, tick=0.25, backoff_max=0.5)
    async with publisher(transport, clock, options) as sink:
        await sink.emit(ev("ns/a", 0))
        await drive(lambda: sink.status().stored == 1)
        first = sink.delivery_state("ns/a")
        assert first.delivered
        assert first.pending == 0
        assert first.last_stored_event_id == ev("ns/a", 0).eventId
        await nats_server.stop()
        await sink.emit(ev("ns/a", 1))
        await drive(lambda: clock.monotonic() > 1_020)
        stuck = sink.delivery_state("ns/a")
        assert not stuck.delivered
        assert stuck.pending == 1
        assert stuck.oldest_pending_seconds >= 10
        assert stuck.last_error
        assert sink.delivery_state("ns/other").delivered
        await nats_server.start()
        await drive(lambda: sink.status().outbox == 0)
        assert sink.delivery_state("ns/a").delivered


async def test_shutdown_flushes_what_was_accepted(
    transport: JetStreamAuditTransport, clock: FakeClock, read_stream: ReadStream
) -> None:
    async with publisher(transport, clock) as sink:
        for n in range(50):
            await sink.emit(ev(f"ns/cr-{n % 3}", n))
    assert len(await read_stream()) == 50


async def test_shutdown_flush_is_bounded_and_reports_the_undelivered(
    nats_server: NatsServer, transport: JetStreamAuditTransport, clock: FakeClock
) -> None:
    await nats_server.stop()
    pub = AuditPublisher(transport, options=AuditPublisherOptions(flush_timeout=1.0))
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: clock.autojump(threshold=0.01))
        async with run_actor(pub, clock=clock) as ref:
            sink = AuditPublisherSink(ref, pub)
            for n in range(4):
                await sink.emit(ev("ns/a", n))
            started = clock.monotonic()
            report = await ref.ask(FlushAudit(1.0), timeout=10)
            assert clock.monotonic() - started <= 1.5
        tg.cancel_scope.cancel()
    assert report.delivered == 0
    assert report.undelivered == 4
    with pytest.raises(AuditUnavailable):
        await sink.emit(ev("ns/a", 9))


async def test_incompatible_stream_stops_the_publisher_with_a_clear_error(
    nats_client: NatsClient, nats_server: NatsServer, clock: FakeClock, drive: Drive
) -> None:
    js = nats_client.jetstream()
    await js.add_stream(name="CATALYST_AUDIT", subjects=["elsewhere"])
    wire = JetStreamAuditTransport(nats_server.url, stream=AuditStreamSpec())
    pub = AuditPublisher(wire, options=FAST)
    async with run_actor(pub, clock=clock) as ref:
        await drive(lambda: not ref.alive)
        error = ref.statistics().last_error or ""
    assert "CATALYST_AUDIT" in error
    assert "do not cover 'catalyst.audit'" in error
