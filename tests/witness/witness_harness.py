"""Backends under test: each one a real server plus a way to make clients and cause outages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from continuum.clock import FakeClock
from continuum.ports import Witness
from continuum.sim.cloudflare_worker import WorkerSim
from continuum.sim.nats import NatsServer
from continuum.witness.cloudflare_kv import CloudflareKvWitness
from continuum.witness.memory import MemoryStore, MemoryWitness
from continuum.witness.nats_kv import open_nats_kv

BACKEND_KINDS = ["in-memory", "nats-kv", "cloudflare-kv"]


class BackendEnv(Protocol):
    kind: str

    async def client(self) -> Witness:
        """A new client over the same witness (another region's view of it)."""
        ...

    async def down(self) -> None:
        """Make the witness unreachable."""
        ...

    async def up(self) -> None:
        """Bring it back with its data."""
        ...


class _Clients:
    def __init__(self) -> None:
        self.clients: list[Witness] = []

    def keep(self, witness: Witness) -> Witness:
        self.clients.append(witness)
        return witness

    async def close_all(self) -> None:
        for witness in self.clients:
            with contextlib.suppress(Exception):
                await witness.aclose()


class MemoryEnv(_Clients):
    kind = "in-memory"

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.store = MemoryStore()

    async def client(self) -> Witness:
        return self.keep(MemoryWitness(self.store, clock=self.clock))

    async def down(self) -> None:
        self.store.available = False

    async def up(self) -> None:
        self.store.available = True


class NatsEnv(_Clients):
    kind = "nats-kv"

    def __init__(self, server: NatsServer, clock: FakeClock) -> None:
        super().__init__()
        self.server = server
        self.clock = clock

    async def client(self) -> Witness:
        return self.keep(await open_nats_kv(self.server.url, clock=self.clock, timeout=0.5))

    async def down(self) -> None:
        await self.server.stop()

    async def up(self) -> None:
        await self.server.start()


class WorkerEnv(_Clients):
    kind = "cloudflare-kv"

    def __init__(self, worker: WorkerSim, clock: FakeClock) -> None:
        super().__init__()
        self.worker = worker
        self.clock = clock

    async def client(self) -> Witness:
        return self.keep(
            CloudflareKvWitness(
                base_url=self.worker.url + "/", token="t0k3n", clock=self.clock, timeout=2.0
            )
        )

    async def down(self) -> None:
        await self.worker.stop()

    async def up(self) -> None:
        await self.worker.start()


@contextlib.asynccontextmanager
async def open_backend(kind: str, *, tmp_path: Path, clock: FakeClock) -> AsyncIterator[BackendEnv]:
    """A running backend of ``kind``; every client it made is closed and its servers stopped
    on exit."""
    env: _Clients
    async with contextlib.AsyncExitStack() as stack:
        if kind == "in-memory":
            env = MemoryEnv(clock)
        elif kind == "nats-kv":
            server = await stack.enter_async_context(NatsServer(tmp_path / "nats"))
            env = NatsEnv(server, clock)
        elif kind == "cloudflare-kv":
            worker = await stack.enter_async_context(WorkerSim(tokens=("t0k3n",), clock=clock))
            env = WorkerEnv(worker, clock)
        else:
            raise ValueError(kind)
        try:
            yield env  # type: ignore[misc]
        finally:
            await env.close_all()
