"""The durable audit outbox: accepted events are in ConfigMaps (a real Kubernetes API
emulator over HTTP) before ``emit`` returns, survive a restart of the publisher and of the
whole process, and reach a real JetStream exactly once by ``eventId``; a crashed publisher is
restarted with its outbox; a failing store and a full outbox are back-pressure, never a drop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from continuum import metrics
from continuum.adapters.audit_outbox import ConfigMapOutboxStore
from continuum.adapters.kube import KubeClients
from continuum.adapters.nats import JetStreamAuditTransport
from continuum.audit import (
    AuditPublisherEscalation,
    AuditPublisherOptions,
    AuditPublisherSink,
    run_audit_publisher,
)
from continuum.audit.outbox import Pending
from continuum.audit.store import MemoryOutboxStore, OutboxStore
from continuum.clock import FakeClock
from continuum.messages.audit import AuditAck, AuditEvent, AuditType, new_event
from continuum_sim.kube import KubeEmulator, write_kubeconfig
from continuum_sim.nats import NatsServer
from tests.audit.conftest import Drive, ReadStream, emitting_in_background

pytestmark = pytest.mark.anyio

FAST = AuditPublisherOptions(ack_timeout=2.0, tick=0.25, backoff_initial=0.1, backoff_max=0.5)
REGION = "region-a"
NAMESPACE = "continuum-system"


def ev(cr: str, n: int, type_: AuditType = AuditType.CONFIG_CHANGED) -> AuditEvent:
    return new_event(
        type_,
        continuum=cr,
        occurred_at=datetime.now(UTC),
        identity=(n,),
        applicationName="shop",
        message=f"event {n}",
    )


@pytest.fixture
async def kube(tmp_path: Path) -> AsyncIterator[KubeEmulator]:
    async with KubeEmulator(region=REGION) as emulator:
        emulator.ensure_namespace(NAMESPACE)
        yield emulator


@pytest.fixture
async def clients(kube: KubeEmulator, tmp_path: Path) -> AsyncIterator[KubeClients]:
    path = write_kubeconfig(tmp_path / "kubeconfig", {REGION: kube})
    clients = await KubeClients.from_kubeconfig(str(path), {REGION: REGION}, request_timeout=5.0)
    async with clients:
        yield clients


def configmap_store(clients: KubeClients) -> ConfigMapOutboxStore:
    """A new store object each call: what a new process would build."""
    return ConfigMapOutboxStore(clients.for_region(REGION), namespace=NAMESPACE, owner=REGION)


def outbox_configmaps(kube: KubeEmulator) -> list[str]:
    return sorted(
        obj["metadata"]["name"]
        for obj in kube.store.objects("", "configmaps", NAMESPACE)
        if obj["metadata"].get("labels", {}).get("continuum.openova.io/audit-outbox") == REGION
    )


@asynccontextmanager
async def publisher(
    transport: JetStreamAuditTransport,
    clock: FakeClock,
    store: OutboxStore,
    options: AuditPublisherOptions = FAST,
    on_stored: Callable[[Pending, AuditAck], None] | None = None,
) -> AsyncIterator[AuditPublisherSink]:
    """A supervised publisher over ``store``; on exit fake time jumps whenever everything
    waits, so the bounded shutdown flush ends even while NATS is down."""
    async with anyio.create_task_group() as tg:
        async with run_audit_publisher(
            transport, clock=clock, options=options, store=store, on_stored=on_stored
        ) as sink:
            try:
                yield sink
            finally:
                tg.start_soon(lambda: clock.autojump(threshold=0.01))
        tg.cancel_scope.cancel()


def once_each(stored: list[tuple[dict[str, str], AuditEvent]]) -> Counter[str]:
    return Counter(event.eventId for _, event in stored)


async def test_accepted_events_are_durable_before_emit_returns_and_survive_a_new_process(
    nats_server: NatsServer,
    transport: JetStreamAuditTransport,
    clock: FakeClock,
    drive: Drive,
    read_stream: ReadStream,
    kube: KubeEmulator,
    clients: KubeClients,
) -> None:
    await nats_server.stop()
    events = [ev(f"shop/cr-{n % 4}", n) for n in range(20)]
    async with publisher(transport, clock, configmap_store(clients)) as sink:
        for event in events:
            await sink.emit(event)
        on_disk = [e.eventId for r in await configmap_store(clients).load() for e in r.events]
        assert sorted(on_disk) == sorted(e.eventId for e in events)
        assert sink.status().durable
    # The process is gone (its in-memory outbox with it); the ConfigMaps are not.
    assert outbox_configmaps(kube)
    await nats_server.start()
    async with publisher(transport, clock, configmap_store(clients)) as sink:
        assert sink.status().outbox == 20
        await drive(lambda: sink.status().outbox == 0)
        await drive(lambda: not outbox_configmaps(kube))
    stored = await read_stream()
    assert once_each(stored) == Counter({e.eventId: 1 for e in events})
    for cr in range(4):
        mine = [e.message for _, e in stored if e.continuumName == f"shop/cr-{cr}"]
        assert mine == [e.message for e in events if e.continuumName == f"shop/cr-{cr}"]


async def test_a_publisher_crashed_mid_publish_restarts_with_its_outbox_and_stores_once(
    transport: JetStreamAuditTransport,
    clock: FakeClock,
    drive: Drive,
    read_stream: ReadStream,
    kube: KubeEmulator,
    clients: KubeClients,
) -> None:
    crashes = {"left": 2}

    def fault(pending: Pending, ack: AuditAck) -> None:
        # Runs inside the actor after JetStream stored the event and before the outbox
        # forgets it: the worst moment to crash (the event is sent again after the restart).
        if crashes["left"] and pending.event.message in ("event 3", "event 11"):
            crashes["left"] -= 1
            raise RuntimeError("injected crash mid-publish")

    events = [ev(f"shop/cr-{n % 3}", n) for n in range(30)]
    async with publisher(transport, clock, configmap_store(clients), on_stored=fault) as sink:
        for event in events:
            await sink.emit(event)
        await drive(lambda: sink.status().outbox == 0)
        await drive(lambda: not outbox_configmaps(kube))
        assert crashes["left"] == 0
        assert sink.status().duplicates >= 2  # the events in flight at each crash, resent
    stored = await read_stream()
    assert once_each(stored) == Counter({e.eventId: 1 for e in events})


async def test_crashes_past_the_restart_budget_escalate(
    transport: JetStreamAuditTransport, clock: FakeClock, drive: Drive
) -> None:
    def always(pending: Pending, ack: AuditAck) -> None:
        raise RuntimeError("injected crash")

    options = AuditPublisherOptions(restart_intensity=2, restart_period=60.0, tick=0.25)
    store = MemoryOutboxStore()

    async def crash_loop() -> None:
        async with run_audit_publisher(
            transport, clock=clock, options=options, store=store, on_stored=always
        ) as sink:
            for n in range(3):
                await sink.emit(ev(f"shop/cr-{n}", n))
            await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: clock.autojump(threshold=0.01))
        with pytest.raises(AuditPublisherEscalation) as caught:
            await crash_loop()
        tg.cancel_scope.cancel()
    assert "crashed 3 times" in str(caught.value)
    # Nothing accepted was given up: every event is still in the durable store (each crash
    # came before the outbox let go of the event being acknowledged).
    assert len(store.pending_event_ids()) == 3


async def test_a_failing_store_makes_emit_wait_and_says_so(
    transport: JetStreamAuditTransport, clock: FakeClock, drive: Drive, read_stream: ReadStream
) -> None:
    store = MemoryOutboxStore()
    store.fail_writes = 3
    async with publisher(transport, clock, store) as sink:
        await drive(lambda: sink.status().connected)
        async with emitting_in_background(sink.emit, ev("shop/a", 1)) as done:
            assert not done.is_set()
            status = sink.status()
            assert status.store_failing
            assert not status.ready
            assert "injected write failure" in status.last_error
            await drive(done.is_set)
        await drive(lambda: sink.status().stored == 1)
        assert sink.ready()
    assert [e.message for _, e in await read_stream()] == ["event 1"]


async def test_full_outbox_coalesces_heartbeats_and_makes_transitions_wait(
    nats_server: NatsServer,
    transport: JetStreamAuditTransport,
    clock: FakeClock,
    drive: Drive,
    read_stream: ReadStream,
) -> None:
    await nats_server.stop()
    store = MemoryOutboxStore()
    options = AuditPublisherOptions(outbox_limit=2, tick=0.25, backoff_max=0.5)
    before = metrics.AUDIT_COALESCED._value.get()
    async with publisher(transport, clock, store, options) as sink:
        await sink.emit(ev("shop/a", 0))
        await sink.emit(ev("shop/a", 1))
        await sink.emit(ev("shop/a", 2, AuditType.RECONCILE_SUCCESS))  # coalesced at once
        assert sink.status().coalesced == 1
        assert metrics.AUDIT_COALESCED._value.get() == before + 1
        assert len(store.pending_event_ids()) == 2
        async with emitting_in_background(sink.emit, ev("shop/a", 3)) as third:
            assert not third.is_set()
            assert sink.delivery_state("shop/a").reason == "OutboxFull"
            assert sink.status().blocked_emitters == 1
            await nats_server.start()
            await drive(third.is_set)
        await drive(lambda: sink.status().outbox == 0)
    assert [e.message for _, e in await read_stream()] == ["event 0", "event 1", "event 3"]


async def test_a_caller_that_gives_up_waiting_does_not_withdraw_its_event(
    nats_server: NatsServer,
    transport: JetStreamAuditTransport,
    clock: FakeClock,
    drive: Drive,
    read_stream: ReadStream,
) -> None:
    """The sequencer bounds its step-7 emit; a timeout there must not lose the event."""
    await nats_server.stop()
    store = MemoryOutboxStore()
    options = AuditPublisherOptions(outbox_limit=1, tick=0.25, backoff_max=0.5)
    async with publisher(transport, clock, store, options) as sink:
        await sink.emit(ev("shop/a", 0))
        with anyio.move_on_after(0.05) as scope:  # real time: the caller's own bound
            await sink.emit(ev("shop/a", 1, AuditType.SWITCHOVER))
        assert scope.cancelled_caught
        await drive(lambda: len(store.pending_event_ids()) == 2)
        assert sink.status().outbox == 2
        await nats_server.start()
        await drive(lambda: sink.status().outbox == 0)
    assert [e.message for _, e in await read_stream()] == ["event 0", "event 1"]
