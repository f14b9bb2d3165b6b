"""Backends under test: each one a real server plus a way to make clients and cause outages."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from continuum.adapters.powerdns import PowerDnsApi
from continuum.clock import FakeClock
from continuum.ports import Witness
from continuum.witness.cloudflare_kv import CloudflareKvWitness
from continuum.witness.dns_quorum import DnsMember, DnsQuorumStore, DnsQuorumWitness
from continuum.witness.k8s_lease import open_k8s_lease
from continuum.witness.memory import MemoryStore, MemoryWitness
from continuum.witness.nats_kv import open_nats_kv
from continuum_sim.cloudflare_worker import WorkerSim
from continuum_sim.kube import KubeEmulator
from continuum_sim.nats import NatsServer
from continuum_sim.pdns import PdnsServer, start_sharing_dns_port

BACKEND_KINDS = ["in-memory", "nats-kv", "cloudflare-kv", "dns-quorum", "k8s-lease"]
LINEARIZABLE_KINDS = [kind for kind in BACKEND_KINDS if kind != "dns-quorum"]
"""The backends with a real compare-and-set: of concurrent acquirers exactly one wins."""
LEASE_NAMESPACE = "continuum-system"
DNS_ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
DNS_DOMAIN = "lease.test"


class BackendEnv(Protocol):
    kind: str
    linearizable: bool

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
    linearizable = True

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


class DnsQuorumEnv(_Clients):
    kind = "dns-quorum"
    linearizable = False

    def __init__(self, servers: list[PdnsServer], clock: FakeClock) -> None:
        super().__init__()
        self.servers = servers
        self.clock = clock

    def store(self) -> DnsQuorumStore:
        members = [
            DnsMember(
                nameserver=server.nameservers[0],
                api=PowerDnsApi(server.api_url, server.api_key, timeout=5.0),
            )
            for server in self.servers
        ]
        return DnsQuorumStore(members, domain=DNS_DOMAIN, timeout=5.0, settle_seconds=0.1)

    async def client(self) -> Witness:
        store = self.store()
        assert await store.ensure_zones() == len(self.servers)
        return self.keep(DnsQuorumWitness(store, clock=self.clock))

    async def down(self) -> None:
        for server in self.servers:
            await server.stop()

    async def up(self) -> None:
        for server in self.servers:
            await server.start()


class K8sLeaseEnv(_Clients):
    kind = "k8s-lease"

    def __init__(self, kube: KubeEmulator, kubeconfig: Path, clock: FakeClock) -> None:
        super().__init__()
        self.kube = kube
        self.kubeconfig = kubeconfig
        self.clock = clock

    async def client(self) -> Witness:
        witness = await open_k8s_lease(
            kubeconfig=str(self.kubeconfig),
            context="witness-site",
            namespace=LEASE_NAMESPACE,
            clock=self.clock,
            timeout=2.0,
        )
        return self.keep(witness)

    async def down(self) -> None:
        await self.kube.stop()

    async def up(self) -> None:
        await self.kube.start()


@contextlib.asynccontextmanager
async def open_pdns_trio(tmp_path: Path) -> AsyncIterator[list[PdnsServer]]:
    """Three independent pdns_server, one per 127.0.0.1/.2/.3, same DNS port. Their dirs are
    short /tmp paths: pdns refuses a control-socket path longer than a UNIX socket allows."""
    async with contextlib.AsyncExitStack() as stack:
        short = Path(tempfile.mkdtemp(prefix="wq"))
        stack.callback(shutil.rmtree, short, True)
        servers = []
        for index, address in enumerate(DNS_ADDRESSES):
            workdir = short / str(index)
            workdir.mkdir()
            servers.append(PdnsServer(workdir, addresses=(address,)))
        for server in servers:
            stack.push_async_callback(server.stop)
        await start_sharing_dns_port(servers)
        yield servers


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
        elif kind == "dns-quorum":
            servers = await stack.enter_async_context(open_pdns_trio(tmp_path))
            env = DnsQuorumEnv(servers, clock)
        elif kind == "k8s-lease":
            kube = await stack.enter_async_context(KubeEmulator(region="witness", clock=clock))
            kube.ensure_namespace(LEASE_NAMESPACE)
            kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", context="witness-site")
            env = K8sLeaseEnv(kube, kubeconfig, clock)
        else:
            raise ValueError(kind)
        try:
            yield env  # type: ignore[misc]
        finally:
            await env.close_all()
