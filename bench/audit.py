"""Benchmark: audit events through the AuditPublisher into a real JetStream stream.

Run: ``python bench/audit.py`` (needs ``nats-server`` on PATH). Prints figures; asserts
nothing. The durable outbox is in the path (``--store configmap``, the default): every
accepted event is first written to an outbox ConfigMap of a Kubernetes API emulator running
in its own process (``continuum sim kube``), as the controller writes them to its API server;
``--store none`` measures the publisher alone. Phases, each against a fresh
``nats-server -js`` on loopback:

1. throughput: ``--events`` events over ``--crs`` CRs, one emitting task per CR (as the
   controller's per-CR audit pumps), each emitting its CR's events as fast as the sink
   accepts them; events/s from the first emit to the last ack, and emit-to-stored latency
   percentiles (emit call → JetStream ack handled by the actor). Then the same with one CR
   (a single emitter: every accept waits for its own durable write).
2. steady: ``--rate`` events/s for 5 s, no outage: tell-to-stored latency when not saturated.
3. outage: a steady ``--rate`` producer for ``--duration`` seconds while the server is stopped
   for ``--outage`` seconds in the middle; then the stream is read back and checked: events
   lost (must be 0), stored twice, and per-CR order violations.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import anyio
import nats
from nats.js import api as jsapi

from continuum.adapters.audit_outbox import ConfigMapOutboxStore
from continuum.adapters.kube import KubeClients
from continuum.adapters.nats import JetStreamAuditTransport
from continuum.audit import AuditPublisherOptions, run_audit_publisher
from continuum.audit.outbox import Pending
from continuum.audit.store import OutboxStore
from continuum.clock import SystemClock
from continuum.messages.audit import AuditAck, AuditEvent, AuditType, decode_event, new_event
from continuum_sim.nats import NatsServer


def make_event(cr: int, n: int) -> AuditEvent:
    return new_event(
        AuditType.CONFIG_CHANGED,  # a transition: never coalesced, so every one is stored
        continuum=f"bench/cr-{cr}",
        occurred_at=datetime.now(UTC),
        identity=(n,),
        applicationName="bench",
        message=f"{n}",
    )


class Recorder:
    """Emit and stored times per event id (the publisher's ``on_stored`` hook)."""

    def __init__(self) -> None:
        self.emitted: dict[str, float] = {}
        self.latencies: list[float] = []
        self.last_stored = 0.0

    def stored(self, pending: Pending, ack: AuditAck) -> None:
        now = time.perf_counter()
        sent = self.emitted.pop(pending.event.eventId, None)
        if sent is not None:
            self.latencies.append(now - sent)
        self.last_stored = now


async def poll(done: Callable[[], bool], interval: float) -> None:
    """Wait until ``done()`` (a benchmark watching a live system, on real time)."""
    while not done():  # noqa: ASYNC110
        await anyio.sleep(interval)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@contextlib.asynccontextmanager
async def kube_store(workdir: Path, kind: str) -> AsyncIterator[OutboxStore | None]:
    """The durable outbox store: ConfigMaps in an emulator subprocess, or none."""
    if kind == "none":
        yield None
        return
    kubeconfig = workdir / "kubeconfig"
    command = [sys.executable, "-m", "continuum", "sim", "kube", "--port", "0"]
    command += ["--kubeconfig", str(kubeconfig)]
    async with await anyio.open_process(command, stderr=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        seen = b""
        with anyio.fail_after(30):
            async for chunk in proc.stdout:  # the emulator prints its kubeconfig once it listens
                seen += chunk
                if b"kubeconfig:" in seen:
                    break
        clients = await KubeClients.from_kubeconfig(str(kubeconfig), {"bench": "emulator"})
        try:
            async with clients:
                yield ConfigMapOutboxStore(
                    clients.for_region("bench"), namespace="default", owner="bench"
                )
        finally:
            proc.terminate()
            await proc.wait()


async def throughput(workdir: Path, *, events: int, crs: int, store_kind: str) -> None:
    recorder = Recorder()
    options = AuditPublisherOptions(outbox_limit=20_000, max_in_flight=1024)
    async with (
        NatsServer(workdir / f"tp-{crs}-{store_kind}") as server,
        kube_store(workdir, store_kind) as store,
    ):
        wire = JetStreamAuditTransport(server.url)
        per_cr: list[list[AuditEvent]] = [[] for _ in range(crs)]
        for n in range(events):
            per_cr[n % crs].append(make_event(n % crs, n))
        async with run_audit_publisher(
            wire, clock=SystemClock(), options=options, on_stored=recorder.stored, store=store
        ) as sink:
            await poll(lambda: bool(sink.status().connected), 0.01)

            async def produce(mine: list[AuditEvent]) -> None:
                for event in mine:
                    recorder.emitted[event.eventId] = time.perf_counter()
                    await sink.emit(event)

            start = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for mine in per_cr:
                    tg.start_soon(produce, mine)
            await poll(lambda: sink.status().stored >= events, 0.001)
            elapsed = recorder.last_stored - start
            await poll(lambda: sink.status().records_pending == 0, 0.01)
            records = sink.status().records_written
    lat = recorder.latencies
    print(
        f"throughput  store={store_kind:<9} crs={crs:<4} events={events:<6}"
        f" {events / elapsed:>8,.0f} events/s records={records}"
        f"  tell→stored p50={percentile(lat, 0.5) * 1e3:7.2f} ms"
        f" p99={percentile(lat, 0.99) * 1e3:7.2f} ms"
        f" max={max(lat) * 1e3:7.2f} ms (n={len(lat)}, mean={statistics.mean(lat) * 1e3:.2f} ms)"
    )


async def read_back(url: str) -> list[AuditEvent]:
    nc = await nats.connect(url)
    try:
        js: Any = nc.jetstream()
        info = await js.stream_info("CATALYST_AUDIT")
        config = jsapi.ConsumerConfig(ack_policy=jsapi.AckPolicy.NONE)
        sub = await js.pull_subscribe("catalyst.audit", stream="CATALYST_AUDIT", config=config)
        out: list[AuditEvent] = []
        while len(out) < info.state.messages:
            for msg in await sub.fetch(1000, timeout=5):
                out.append(decode_event(msg.data))
        await sub.unsubscribe()
        return out
    finally:
        await nc.close()


async def outage(
    workdir: Path, *, rate: int, duration: float, down: float, crs: int, store_kind: str
) -> None:
    recorder = Recorder()
    options = AuditPublisherOptions(
        outbox_limit=int(rate * (down + 5)), max_in_flight=1024, backoff_max=0.5
    )
    async with (
        NatsServer(workdir / f"outage-{down:g}") as server,
        kube_store(workdir, store_kind) as store,
    ):
        wire = JetStreamAuditTransport(server.url)
        sent = 0
        async with run_audit_publisher(
            wire, clock=SystemClock(), options=options, on_stored=recorder.stored, store=store
        ) as sink:
            await poll(lambda: bool(sink.status().connected), 0.01)

            async def chaos() -> None:
                if not down:
                    return
                await anyio.sleep((duration - down) / 2)
                await server.kill()
                print(f"outage      server killed at backlog={sink.status().outbox}")
                await anyio.sleep(down)
                await server.start()
                print(f"outage      server back, backlog={sink.status().outbox}")

            start = time.perf_counter()
            async with anyio.create_task_group() as tg:
                tg.start_soon(chaos)
                while (now := time.perf_counter() - start) < duration:
                    due = int(now * rate)
                    while sent < due:
                        event = make_event(sent % crs, sent)
                        recorder.emitted[event.eventId] = time.perf_counter()
                        await sink.emit(event)
                        sent += 1
                    await anyio.sleep(0.002)
            await poll(lambda: sink.status().outbox == 0, 0.01)
            status = sink.status()
        stored = await read_back(server.url)
    ids = [e.eventId for e in stored]
    unique = set(ids)
    expected = {make_event(n % crs, n).eventId for n in range(sent)}
    per_cr: dict[str, list[int]] = {}
    for event in stored:
        per_cr.setdefault(event.continuumName, []).append(int(event.message))
    violations = sum(1 for seq in per_cr.values() for a, b in pairwise(seq) if b <= a)
    lat = recorder.latencies
    label = "outage " if down else "steady "
    print(
        f"{label}     rate={rate}/s sent={sent} stored={len(ids)} lost={len(expected - unique)}"
        f" duplicates={len(ids) - len(unique)} order_violations={violations}"
        f" publish_failures={status.failures}"
    )
    print(
        f"{label}     tell→stored p50={percentile(lat, 0.5) * 1e3:.1f} ms"
        f" p99={percentile(lat, 0.99) * 1e3:.1f} ms max={max(lat) * 1e3:.1f} ms"
        + (f" (events emitted during the {down:g}s outage wait for the server)" if down else "")
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--crs", type=int, default=100)
    parser.add_argument("--rate", type=int, default=3_000)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--outage", type=float, default=10.0)
    parser.add_argument("--store", choices=("configmap", "none"), default="configmap")
    args = parser.parse_args()
    kind = args.store
    with tempfile.TemporaryDirectory(prefix="continuum-bench-audit-") as tmp:
        workdir = Path(tmp)
        await throughput(workdir, events=args.events, crs=args.crs, store_kind=kind)
        await throughput(workdir, events=min(args.events, 2_000), crs=1, store_kind=kind)
        await outage(workdir, rate=args.rate, duration=5.0, down=0.0, crs=args.crs, store_kind=kind)
        await outage(
            workdir,
            rate=args.rate,
            duration=args.duration,
            down=args.outage,
            crs=args.crs,
            store_kind=kind,
        )


if __name__ == "__main__":
    asyncio.run(main())
