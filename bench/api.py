"""HTTP API benchmark: cached DryRun over real HTTP, concurrency 32, against uvicorn.

The server process runs the real API (``create_app`` + ``serve_api``, auth guard with a
token, canonical JSON log line per request written to /dev/null, metrics) over a real
Supervisor whose actor answers ``DryRunRequest`` with a precomputed report — what a cached
DryRun costs. The load generator runs in a separate process (each pinned to its own core
when there are two) and keeps 32 keep-alive connections busy with a minimal asyncio
HTTP/1.1 client, so the client's own overhead stays small. Prints req/s and latency
percentiles; asserts nothing. Target: >= 1,000 req/s with p99 < 50 ms on 2 cores.

    python bench/api.py [--seconds 20] [--concurrency 32] [--warmup 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import time
from functools import partial
from multiprocessing.connection import Connection

import anyio
import msgspec
import psutil

from continuum.actors.runtime import Actor
from continuum.clock import SystemClock
from continuum.config import Address, Settings
from continuum.http import Readiness, bind_listener, create_app, serve_api
from continuum.logs import configure_logging
from continuum.messages.requests import DryRunRequest
from continuum.messages.switchover import STEP_ORDER, DryRunReport, DryRunStep, step_number
from continuum.supervisor import Supervisor

TOKEN = "bench-token-0123456789"
PATH = "/v1/continuums/team-a/orders/dry-run"
BODY = b'{"toRegion":"eu-central","reason":"bench"}'


def cached_report() -> DryRunReport:
    return DryRunReport(
        planFingerprint="0123456789abcdef",
        steps=[
            DryRunStep(
                step=step_number(step),
                name=step.value,
                preconditionsMet=True,
                estimatedDurationSeconds=2,
                notes=[f"{step.value}: preconditions met"],
            )
            for step in STEP_ORDER
        ],
        estimatedDurationSeconds=14,
        estimatedWriteDisruptionSeconds=6,
        generatedAt="2026-01-01T00:00:00Z",
        warnings=["replication lag unknown"],
        leaseHolder="eu-west",
        leaseExpiresAt="2026-01-01T00:00:30Z",
        leaseGeneration=7,
    )


class CachedDryRun(Actor):
    """Answers every DryRunRequest with the same precomputed report."""

    def __init__(self) -> None:
        self.report = cached_report()

    async def on_message(self, message: msgspec.Struct) -> object:
        if isinstance(message, DryRunRequest):
            return self.report
        return await super().on_message(message)


# --- server process ----------------------------------------------------------------------------


def pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {cpu})


def serve(conn: Connection) -> None:
    pin(0)
    configure_logging(level="info", fmt="json", stream=open(os.devnull, "w"))  # noqa: SIM115
    asyncio.run(_serve(conn))


async def _serve(conn: Connection) -> None:
    settings = Settings(api_token=TOKEN)
    async with Supervisor(clock=SystemClock()) as supervisor:
        await supervisor.spawn("team-a/orders", CachedDryRun)
        app = create_app(
            registry=supervisor.registry,
            readiness=Readiness(is_leader=True, watch_synced=True),
            settings=settings,
        )
        sock = bind_listener(Address("127.0.0.1", 0))
        async with anyio.create_task_group() as tg:
            ready = anyio.Event()
            tg.start_soon(partial(serve_api, app, sock, ready=ready))
            await ready.wait()
            conn.send(sock.getsockname()[1])
            await anyio.to_thread.run_sync(conn.recv)  # any message: stop
            tg.cancel_scope.cancel()


# --- load generator ----------------------------------------------------------------------------


def request_bytes(port: int) -> bytes:
    head = (
        f"POST {PATH} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "X-Catalyst-Owner-Tier: true\r\n"
        f"Authorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n"
        "\r\n"
    )
    return head.encode() + BODY


async def worker(
    port: int, *, until: float, warm_until: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = request_bytes(port)
    try:
        while (started := time.perf_counter()) < until:
            writer.write(payload)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            elapsed = time.perf_counter() - started
            if started >= warm_until:
                if status_line.split()[1] != b"200" or not body.startswith(b'{"planFingerprint"'):
                    errors.append(int(status_line.split()[1]))
                latencies.append(elapsed)
    finally:
        writer.close()


async def load(port: int, *, seconds: float, warmup: float, concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    errors: list[int] = []
    now = time.perf_counter()
    warm_until = now + warmup
    until = warm_until + seconds
    await asyncio.gather(
        *(
            worker(port, until=until, warm_until=warm_until, latencies=latencies, errors=errors)
            for _ in range(concurrency)
        )
    )
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "req_per_s": len(latencies) / seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max_ms": 1000 * latencies[-1],
        "mean_ms": 1000 * statistics.fmean(latencies),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()

    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    server = ctx.Process(target=serve, args=(theirs,), daemon=True)
    server.start()
    try:
        port = ours.recv()
        pin(1)
        server_proc = psutil.Process(server.pid)
        cpu_before = server_proc.cpu_times()
        wall_before = time.perf_counter()
        figures = asyncio.run(
            load(port, seconds=args.seconds, warmup=args.warmup, concurrency=args.concurrency)
        )
        cpu_after = server_proc.cpu_times()
        busy = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        figures["server_cpu_pct"] = 100 * busy / (time.perf_counter() - wall_before)
    finally:
        ours.send("stop")
        server.join(timeout=15)
        if server.is_alive():
            server.kill()
    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"cached DryRun over HTTP, concurrency {args.concurrency}, {args.seconds:g} s "
        f"(after {args.warmup:g} s warm-up), {os.cpu_count()} cores, load avg {load_avg:.1f}"
    )
    print(
        f"  {figures['req_per_s']:,.0f} req/s  p50 {figures['p50_ms']:.2f} ms  "
        f"p99 {figures['p99_ms']:.2f} ms  max {figures['max_ms']:.2f} ms  "
        f"({figures['requests']:,.0f} requests, {figures['errors']:.0f} errors; "
        f"server process at {figures['server_cpu_pct']:.0f}% of one core)"
    )
    print(json.dumps({k: round(v, 3) for k, v in figures.items()}))
    return 0 if figures["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
