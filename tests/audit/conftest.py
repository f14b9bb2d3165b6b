"""Fixtures of the audit suite: a real ``nats-server -js`` per test, asyncio only (nats-py).

``drive`` moves a :class:`FakeClock` forward in small steps while real I/O (acks, reconnects)
happens, until a condition holds; the real-time bound is only a safety net for a broken test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import nats
import pytest
from nats.aio.client import Client as NatsClient

from continuum.adapters.nats import AuditStreamSpec, JetStreamAuditTransport
from continuum.clock import FakeClock
from continuum.messages.audit import AuditEvent, decode_event
from continuum_sim.nats import NatsServer

Drive = Callable[[Callable[[], bool]], Awaitable[None]]
ReadStream = Callable[[], Awaitable[list[tuple[dict[str, str], AuditEvent]]]]


@pytest.fixture
def anyio_backend() -> str:
    """nats-py runs on asyncio only."""
    return "asyncio"


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    """A fresh JetStream server on 127.0.0.1 and a free port, stopped by PID afterwards."""
    async with NatsServer(tmp_path / "nats") as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    """Fake time whose wall clock starts at the real now (JetStream stamps real time)."""
    return FakeClock(wall_start=datetime.now(UTC))


@pytest.fixture
async def nats_client(nats_server: NatsServer) -> AsyncIterator[NatsClient]:
    """A plain client for inspecting the server (not the one under test)."""
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.05)
    try:
        yield nc
    finally:
        await nc.close()


@pytest.fixture
async def transport(nats_server: NatsServer) -> AsyncIterator[JetStreamAuditTransport]:
    """The transport under test, on the default stream spec."""
    wire = JetStreamAuditTransport(nats_server.url, stream=AuditStreamSpec(), connect_timeout=1.0)
    try:
        yield wire
    finally:
        await wire.aclose()


@pytest.fixture
def read_stream(nats_client: NatsClient) -> ReadStream:
    """Every message of ``CATALYST_AUDIT`` in stream order: (headers, decoded event)."""

    async def read() -> list[tuple[dict[str, str], AuditEvent]]:
        js: Any = nats_client.jetstream()
        info = await js.stream_info("CATALYST_AUDIT")
        out: list[tuple[dict[str, str], AuditEvent]] = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg("CATALYST_AUDIT", seq)
            out.append((dict(msg.headers or {}), decode_event(msg.data)))
        return out

    return read


@pytest.fixture
def drive(clock: FakeClock) -> Drive:
    """Advance fake time by ``step`` every few real milliseconds until ``done()``."""

    async def run(done: Callable[[], bool], *, step: float = 0.25, limit: float = 20.0) -> None:
        with anyio.fail_after(limit):
            while not done():
                clock.advance(step)
                await anyio.sleep(0.005)

    return run


@asynccontextmanager
async def emitting_in_background(
    emit: Callable[[AuditEvent], Awaitable[None]], event: AuditEvent
) -> AsyncIterator[anyio.Event]:
    """Start ``emit(event)`` in a task and yield, once every task is blocked, an event set
    when that emit returns. Leaving the block waits for the emit (the body makes it return)."""
    done = anyio.Event()

    async def run() -> None:
        await emit(event)
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await anyio.wait_all_tasks_blocked()
        yield done
