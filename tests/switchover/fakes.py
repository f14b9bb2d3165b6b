"""In-memory fakes of the switchover ports, faithful to the contracts in ``continuum.ports``.

The witness is the project's real in-memory witness (``continuum.witness.memory``). Every
fake counts its writes (DryRun must leave them at zero) and takes injected faults:
``faults.add("op", exc, region=…, times=…)``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import anyio
import anyio.lowlevel

from continuum.clock import FakeClock
from continuum.errors import (
    AuditUnavailable,
    DnsWriteError,
    Invalid,
    KubeError,
    NoBackendForRegion,
    Unavailable,
    WitnessNamespaceMissing,
)
from continuum.messages.audit import AuditEvent, AuditType
from continuum.messages.dns import LuaRecord
from continuum.messages.lease import Lease
from continuum.messages.switchover import (
    CnpgMode,
    DnsPlan,
    Mechanism,
    ObjectRef,
    PairHalf,
    PairState,
    Plan,
    RouteState,
    backend_in_region,
)
from continuum.switchover.preconditions import in_zone
from continuum.switchover.snapshot import SwitchoverPorts
from continuum.witness.memory import MemoryStore, MemoryWitness

T = TypeVar("T")

A, B = "hz-fsn-rtz-prod", "hz-hel-rtz-prod"
IPS = {A: ("5.1.2.3", "5.1.2.4"), B: ("5.5.6.7",)}
KEY = "acme/shop-dr"


@dataclass
class Fault:
    op: str
    exc: BaseException | None
    region: str | None
    times: int
    hang: bool = False


class Faults:
    """Injected failures: the next ``times`` calls of ``op`` (optionally in ``region``) raise
    ``exc`` — or hang until cancelled when ``hang`` is set."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(
        self,
        op: str,
        exc: BaseException | None = None,
        *,
        region: str | None = None,
        times: int = 1,
        hang: bool = False,
    ) -> None:
        self._faults.append(Fault(op, exc, region, times, hang))

    async def check(self, op: str, region: str | None = None) -> None:
        await anyio.lowlevel.checkpoint()
        for fault in self._faults:
            if fault.op == op and fault.times > 0 and fault.region in (None, region):
                fault.times -= 1
                if fault.hang:
                    await anyio.sleep_forever()
                assert fault.exc is not None
                raise fault.exc


@dataclass
class Half:
    region: str
    name: str
    ready: bool = True
    replica_enabled: bool = False
    replica_primary: str = ""
    replica_self: str = ""
    demotion_token: str = ""
    promotion_token: str = ""
    fenced: bool = False
    role_secrets: tuple[str, ...] = ()

    def view(self, namespace: str) -> PairHalf:
        return PairHalf(
            region=self.region,
            name=self.name,
            namespace=namespace,
            ready=self.ready,
            replica_enabled=self.replica_enabled,
            replica_primary=self.replica_primary,
            replica_self=self.replica_self,
            demotion_token=self.demotion_token,
            fenced=self.fenced,
            phase="Cluster in healthy state" if self.ready else "Setting up primary",
            role_secrets=self.role_secrets,
        )


class FakeClusterPair:
    """Two CNPG Clusters. Distributed mode models the demotion/promotion token handshake:
    ``demote`` issues a token; ``promote`` accepts only the token the other half (or the
    half itself) issued, or ``""`` (failover path)."""

    def __init__(self, *, mode: CnpgMode = CnpgMode.DISTRIBUTED, namespace: str = "acme") -> None:
        self.namespace = namespace
        self.mode = mode
        self.halves = {A: Half(A, "shop-pg-fsn"), B: Half(B, "shop-pg-hel")}
        for half in self.halves.values():
            if mode is CnpgMode.DISTRIBUTED:
                half.replica_self = half.name
                half.replica_primary = self.halves[A].name
            else:
                half.replica_enabled = half.region != A
        self.unreachable: set[str] = set()
        # Regions whose Cluster does not exist (deleted, or not created yet): reads say so.
        self.missing: set[str] = set()
        # Regions whose API refuses this controller's writes (RBAC 403): reads still work,
        # a write and a dry-run write are refused.
        self.forbidden: set[str] = set()
        self.faults = Faults()
        self.writes = 0
        self._tokens = 0

    async def probe_writes(self) -> dict[str, Exception]:
        await self.faults.check("probe_writes")
        refused: dict[str, Exception] = {
            r: Unavailable("API unreachable", region=r) for r in self.unreachable
        }
        for r in self.forbidden:
            refused[r] = KubeError("patch clusters: HTTP 403: forbidden", region=r, status=403)
        return refused

    def _name_of(self, region: str) -> str:
        return self.halves[region].name

    def primaries(self) -> list[str]:
        return [r for r, h in self.halves.items() if h.view(self.namespace).acts_as_primary]

    async def read_pair(self) -> PairState:
        await self.faults.check("read_pair")
        views = []
        for region, half in self.halves.items():
            if region in self.missing:
                views.append(
                    PairHalf(
                        region=region,
                        name="",
                        namespace=self.namespace,
                        error=f"[{region}] cnpg pair: no Cluster labelled",
                        missing=True,
                    )
                )
            elif region in self.unreachable:
                views.append(
                    PairHalf(
                        region=region,
                        name=half.name,
                        namespace=self.namespace,
                        error=f"[{region}] API unreachable",
                    )
                )
            else:
                views.append(half.view(self.namespace))
        return PairState(halves=tuple(views))

    async def _write(self, op: str, region: str) -> Half:
        await self.faults.check(op, region)
        if region in self.unreachable:
            raise TimeoutError(f"[{region}] API unreachable")
        if region in self.forbidden:
            raise KubeError("patch clusters: HTTP 403: forbidden", region=region, status=403)
        self.writes += 1
        return self.halves[region]

    async def demote(self, region: str, *, new_primary: str) -> str:
        half = await self._write("demote", region)
        target = self._name_of(new_primary)
        if half.replica_primary == target and half.demotion_token:
            return half.demotion_token
        self._tokens += 1
        half.replica_primary = target
        half.demotion_token = f"token-{self._tokens}"
        return half.demotion_token

    async def promote(self, region: str, *, token: str) -> None:
        half = await self._write("promote", region)
        if half.replica_primary == half.name:
            return
        issued = {h.demotion_token for h in self.halves.values() if h.demotion_token}
        if token and token not in issued:
            raise Invalid(f"promotion token {token!r} was never issued", region=region)
        half.replica_primary = half.name
        half.promotion_token = token
        half.demotion_token = ""

    async def fence(self, region: str) -> None:
        (await self._write("fence", region)).fenced = True

    async def unfence(self, region: str) -> None:
        (await self._write("unfence", region)).fenced = False

    async def set_replica_enabled(self, region: str, enabled: bool) -> None:
        (await self._write("set_replica_enabled", region)).replica_enabled = enabled

    async def wait_ready_as_primary(self, region: str, timeout: float) -> None:
        await self.faults.check("wait_ready_as_primary", region)
        half = self.halves[region]
        if not (half.ready and half.view(self.namespace).acts_as_primary):
            raise TimeoutError(f"{half.name} not Ready as primary within {timeout:g}s")


class FakeRoutes:
    """One HTTPRoute's backends, name-keyed; restore is by name. A drain leaving nothing
    above 0 records the weights it found in ``before_drain`` (the adapter's annotation)."""

    def __init__(self, weights: dict[str, int] | None = None) -> None:
        self.weights = dict(weights if weights is not None else {"shop-" + A: 100, "shop-" + B: 0})
        self.before_drain: dict[str, int] | None = None
        self.faults = Faults()
        self.writes = 0
        self.forbidden = False  # RBAC refuses writes (and dry-run writes) to the route

    async def probe_write(self, route: ObjectRef) -> None:
        await self.faults.check("probe_write")
        self._check_allowed()

    def _check_allowed(self) -> None:
        if self.forbidden:
            raise KubeError("patch httproutes: HTTP 403: forbidden", region=A, status=403)

    async def read_weights(self, route: ObjectRef) -> dict[str, int]:
        await self.faults.check("read_weights")
        return dict(self.weights)

    async def read_state(self, route: ObjectRef) -> RouteState:
        weights = await self.read_weights(route)
        record = dict(self.before_drain) if self.before_drain is not None else None
        return RouteState(weights=weights, before_drain=record)

    def _match(self, region: str) -> list[str]:
        found = [b for b in self.weights if backend_in_region(b, region)]
        if not found:
            raise NoBackendForRegion(f"no backend of region {region!r}")
        return found

    async def drain(self, route: ObjectRef, region: str) -> dict[str, int]:
        await self.faults.check("drain", region)
        self._check_allowed()
        prior = {b: self.weights[b] for b in self._match(region)}
        found = dict(self.weights)
        self.writes += 1
        for backend in prior:
            self.weights[backend] = 0
        if any(w > 0 for w in prior.values()) and not any(self.weights.values()):
            self.before_drain = found
        return prior

    async def restore(self, route: ObjectRef, prior: dict[str, int]) -> None:
        await self.faults.check("restore")
        self._check_allowed()
        self.writes += 1
        for backend, weight in prior.items():
            if backend in self.weights:
                self.weights[backend] = weight

    async def shift_to(self, route: ObjectRef, region: str) -> dict[str, int]:
        await self.faults.check("shift_to", region)
        self._check_allowed()
        changed = {b: self.weights[b] for b in self._match(region) if self.weights[b] == 0}
        self.writes += 1
        for backend in changed:
            self.weights[backend] = 1
        return changed

    def serving(self) -> set[str]:
        return {
            region
            for region in (A, B)
            if any(w > 0 for b, w in self.weights.items() if backend_in_region(b, region))
        }


class FakeDns:
    """The authoritative server's records, per hostname. Like PowerDNS it serves ``zones``
    and refuses (422) a commit to another zone or of a name outside the zone."""

    def __init__(self, zones: tuple[str, ...] = ("example.com",)) -> None:
        self.records: dict[str, LuaRecord] = {}
        self.zones = set(zones)
        self.faults = Faults()
        self.writes = 0

    async def zone_exists(self, zone: str) -> bool:
        await self.faults.check("zone_exists")
        return zone in self.zones

    async def commit(self, zone: str, records: Sequence[LuaRecord]) -> None:
        await self.faults.check("commit")
        if zone not in self.zones:
            raise DnsWriteError(f"powerdns: status 404: Could not find domain '{zone}.'")
        for record in records:
            if not in_zone(record.hostname, zone):
                raise DnsWriteError(f"powerdns: status 422: Name is out of zone {record.hostname}")
        self.writes += 1
        for record in records:
            self.records[record.hostname] = record

    def primaries(self) -> set[str]:
        return {r.primary_region for r in self.records.values()}

    async def differing(self, zone: str, records: Sequence[LuaRecord]) -> list[str]:
        await self.faults.check("differing")
        return [r.hostname for r in records if self.records.get(r.hostname) != r]

    async def verify(self, records: Sequence[LuaRecord], ips: Sequence[str]) -> None:
        await self.faults.check("verify")
        for record in records:
            if self.records.get(record.hostname) != record:
                raise DnsWriteError(f"{record.hostname} does not answer the new record")


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.faults = Faults()

    async def emit(self, event: AuditEvent) -> None:
        await self.faults.check("emit")
        self.events.append(event)

    def delivery_state(self, continuum: str) -> None:
        return None

    def types(self) -> list[AuditType]:
        return [e.type for e in self.events]


class FakeAuditTail:
    def __init__(self, events: list[AuditEvent]) -> None:
        self.events = events
        self.available = True

    async def find(
        self,
        *,
        event_id: str | None = None,
        type: AuditType | None = None,
        continuum: str | None = None,
        since: datetime | None = None,
    ) -> AuditEvent | None:
        await anyio.lowlevel.checkpoint()
        if not self.available:
            raise AuditUnavailable("stream unreachable")
        for event in self.events:
            if event_id is not None and event.eventId != event_id:
                continue
            if type is not None and event.type != type:
                continue
            if continuum is not None and event.continuumName != continuum:
                continue
            return event
        return None


class FakeResolver:
    """Answers per (hostname, vantage): a list of addresses, an exception, or ``"hang"``."""

    def __init__(self, default: list[str]) -> None:
        self.default = default
        self.answers: dict[tuple[str, str], list[str] | BaseException | str] = {}
        self.queries: list[tuple[str, str]] = []

    async def resolve_a(self, name: str, *, nameserver: str, timeout: float) -> list[str]:
        self.queries.append((name, nameserver))
        await anyio.lowlevel.checkpoint()
        answer = self.answers.get((name, nameserver), self.default)
        if answer == "hang":
            await anyio.sleep_forever()
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, list)
        return answer


def dns_plan() -> DnsPlan:
    return DnsPlan(
        zone="example.com",
        hostnames=("web.example.com", "api.example.com"),
        region_ips=dict(IPS),
        health_check_url="https://probe-fsn.example.com/healthz",
    )


@dataclass
class World:
    """Two regions, one witness, one route, one DNS zone, one audit sink."""

    clock: FakeClock
    store: MemoryStore
    witness: FaultyWitness
    pair: FakeClusterPair
    routes: FakeRoutes
    dns: FakeDns
    sink: RecordingSink
    lease: Lease = field(default_factory=lambda: Lease(key=KEY))

    def ports(self, **overrides: object) -> SwitchoverPorts:
        values: dict[str, object] = {
            "clock": self.clock,
            "witness": self.witness,
            "pair": self.pair,
            "routes": self.routes,
            "dns": self.dns,
            "audit": self.sink,
            "verify_dns": self.dns.verify,
        }
        values.update(overrides)
        return SwitchoverPorts(**values)  # type: ignore[arg-type]

    def plan(self, frm: str = A, to: str = B, **overrides: object) -> Plan:
        values: dict[str, object] = {
            "continuum_name": KEY,
            "application_name": "shop",
            "from_region": frm,
            "to_region": to,
            "mechanism": Mechanism.CNPG_PAIR,
            "cnpg_mode": self.pair.mode,
            "pair": ObjectRef(name="shop-pg", namespace="acme"),
            "route": ObjectRef(name="shop", namespace="acme"),
            "drain_seconds": 10,
            "dns": dns_plan(),
            "initiated_by": "ops@acme.io",
            "epoch": self.lease.generation,
        }
        values.update(overrides)
        return Plan(**values)  # type: ignore[arg-type]

    async def hold(self, region: str) -> Lease:
        """``region`` acquires the lease (as its own instance would)."""
        self.lease = await self.witness.acquire(KEY, region, 30.0)
        return self.lease

    async def read_lease(self) -> Lease:
        return await self.witness.read(KEY)

    def writes(self) -> int:
        return self.store.writes + self.pair.writes + self.routes.writes + self.dns.writes

    async def writer(self) -> str:
        """The one region every system agrees is the writer; fails the test otherwise."""
        lease = await self.read_lease()
        primaries = self.pair.primaries()
        dns = self.dns.primaries()
        assert len(primaries) == 1, f"pair primaries: {primaries}"
        assert dns <= {primaries[0]}, f"DNS {dns} vs pair {primaries}"
        assert lease.holder == primaries[0], f"lease {lease.holder} vs pair {primaries}"
        assert self.routes.serving() == {primaries[0]}, f"routes {self.routes.serving()}"
        return primaries[0]


class FaultyWitness:
    """The real in-memory witness with injectable faults per operation. ``namespace_missing``
    models a k8s-lease witness whose namespace is gone: reads see a free slot, every write
    (and the dry-run write probe) raises ``WitnessNamespaceMissing``."""

    def __init__(self, inner: MemoryWitness) -> None:
        self.inner = inner
        self.faults = Faults()
        self.namespace_missing = False

    def _check_namespace(self) -> None:
        if self.namespace_missing:
            raise WitnessNamespaceMissing('k8s-lease: namespace "witness" does not exist')

    async def probe_write(self, key: str) -> None:
        await self.faults.check("probe_write")
        self._check_namespace()

    async def acquire(self, key: str, holder: str, ttl: float) -> Lease:
        await self.faults.check("acquire")
        self._check_namespace()
        return await self.inner.acquire(key, holder, ttl)

    async def renew(self, lease: Lease) -> Lease:
        await self.faults.check("renew")
        return await self.inner.renew(lease)

    async def release(self, lease: Lease) -> None:
        await self.faults.check("release")
        await self.inner.release(lease)

    async def read(self, key: str) -> Lease:
        await self.faults.check("read")
        return await self.inner.read(key)

    async def handover(self, lease: Lease, to_holder: str, ttl: float) -> Lease:
        await self.faults.check("handover")
        self._check_namespace()
        return await self.inner.handover(lease, to_holder, ttl)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def autojumping(clock: FakeClock, fn: Callable[[], Awaitable[T]]) -> T:
    """Run ``fn`` while ``clock`` jumps to the next deadline whenever everything is blocked."""
    result: list[T] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.autojump)
        result.append(await fn())
        tg.cancel_scope.cancel()
    return result[0]


async def make_world(clock: FakeClock, *, mode: CnpgMode = CnpgMode.DISTRIBUTED) -> World:
    store = MemoryStore()
    world = World(
        clock=clock,
        store=store,
        witness=FaultyWitness(MemoryWitness(store, clock=clock)),
        pair=FakeClusterPair(mode=mode),
        routes=FakeRoutes(),
        dns=FakeDns(),
        sink=RecordingSink(),
    )
    await world.hold(A)
    return world
