"""A ContinuumActor with the project's in-memory witness and faithful fakes of its edges."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec

from continuum.actors.continuum.actor import ContinuumActor
from continuum.actors.continuum.env import Collaborators, ContinuumEnvironment
from continuum.actors.runtime import ActorRef, run_actor
from continuum.clock import FakeClock
from continuum.messages.audit import AuditType
from continuum.messages.crd import Continuum, CopyState, decode_continuum
from continuum.messages.status import ContinuumStatus
from continuum.switchover.from_spec import plan_from_spec
from continuum.switchover.lua import synthesize as lua_synthesize
from continuum.switchover.plan import lua_params
from continuum.witness.memory import MemoryStore, MemoryWitness
from tests.switchover.fakes import (
    IPS,
    KEY,
    A,
    B,
    FakeAuditTail,
    FakeClusterPair,
    FakeDns,
    FakeResolver,
    FakeRoutes,
    FaultyWitness,
    RecordingSink,
)

__all__ = [
    "KEY",
    "A",
    "B",
    "FakeCopies",
    "Harness",
    "RecordingFinalizers",
    "cr_dict",
    "make_cr",
]


def cr_dict(**spec: Any) -> dict[str, Any]:
    namespace, name = KEY.split("/")
    base: dict[str, Any] = {
        "apiVersion": "dr.openova.io/v1",
        "kind": "Continuum",
        "metadata": {"name": name, "namespace": namespace, "uid": "uid-1", "generation": 1},
        "spec": {
            "applicationRef": "shop",
            "primaryRegion": A,
            "hotStandbyRegions": [B],
            "leaseClient": {"kind": "in-memory", "config": {"ttlSeconds": 30, "renewSeconds": 10}},
            "cnpgPair": {"name": "shop-pg", "namespace": namespace},
            "httpRoute": {"name": "shop", "namespace": namespace},
            "pdmZone": "example.com",
            "regions": [{"name": region, "lbIPs": list(ips)} for region, ips in IPS.items()],
            "luaRecord": {
                "hostnames": ["web.example.com", "api.example.com"],
                "healthCheck": {"url": "https://probe-fsn.example.com/healthz"},
            },
            "switchover": {"drainSeconds": 10},
        },
    }
    base["spec"].update(spec)
    return base


def make_cr(**spec: Any) -> Continuum:
    return decode_continuum(cr_dict(**spec))


class RecordingStatusStore:
    """Keeps the CR's status as a real API server would after merge patches."""

    def __init__(self) -> None:
        self.current = ContinuumStatus()
        self.writes: list[ContinuumStatus] = []
        self.cleared = 0
        self.fail = False

    async def patch_status(
        self, key: str, status: ContinuumStatus, *, previous: ContinuumStatus | None
    ) -> None:
        from continuum.errors import Unavailable

        if self.fail:
            raise Unavailable("status write refused", region=A)
        self.current = status
        self.writes.append(status)

    async def clear_switchover_request(self, key: str) -> None:
        self.cleared += 1

    def journal_steps(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for status in self.writes:
            j = status.switchover
            if j is not None and (not out or out[-1] != (j.step, j.state)):
                out.append((j.step, j.state))
        return out


class RecordingFinalizers:
    """The CR's ``metadata.finalizers`` as the API server keeps it, and the deletion: with the
    finalizer present a deletion waits for its removal (``gone`` then)."""

    def __init__(self) -> None:
        self.present = False
        self.calls = 0
        self.adds = 0
        self.removes = 0
        self.fail = False
        self.deleting = False
        self.gone = False
        self.status: RecordingStatusStore | None = None
        self.removed_with: ContinuumStatus | None = None
        """The stored status at the moment the finalizer was removed."""

    async def add_finalizer(self, key: str) -> None:
        from continuum.errors import Invalid, NotFound, Unavailable

        self.calls += 1
        if self.fail:
            raise Unavailable("finalizer write refused", region=A)
        if self.gone:
            raise NotFound(f"continuum {key} not found", region=A, status=404)
        if self.present:
            return
        if self.deleting:
            raise Invalid("no new finalizers can be added", region=A, status=422)
        self.present = True
        self.adds += 1

    async def remove_finalizer(self, key: str) -> None:
        from continuum.errors import Unavailable

        self.calls += 1
        if self.fail:
            raise Unavailable("finalizer write refused", region=A)
        if not self.present:
            return
        self.present = False
        self.removes += 1
        if self.status is not None:
            self.removed_with = self.status.current
        if self.deleting:
            self.gone = True


class FakeCopies:
    """Every region's copy of the CR as its API server would answer (``copies[region]``;
    absent: the copy exists, nobody deletes it, no journal)."""

    def __init__(self) -> None:
        self.copies: dict[str, CopyState] = {}
        self.reads: list[str] = []
        self.fail = False

    async def read_copy(self, region: str, key: str) -> CopyState:
        from continuum.errors import Unavailable

        self.reads.append(region)
        if self.fail:
            raise Unavailable("copy read refused", region=region)
        return self.copies.get(region, CopyState(exists=True))


@dataclass
class Harness:
    clock: FakeClock
    store: MemoryStore = field(default_factory=MemoryStore)
    pair: FakeClusterPair = field(default_factory=FakeClusterPair)
    routes: FakeRoutes = field(default_factory=FakeRoutes)
    """Region A's copy of the HTTPRoute."""
    routes_b: FakeRoutes = field(default_factory=FakeRoutes)
    """Region B's copy (as installed, both copies send everything to A)."""
    dns: FakeDns = field(default_factory=FakeDns)
    sink: RecordingSink = field(default_factory=RecordingSink)
    status: RecordingStatusStore = field(default_factory=RecordingStatusStore)
    finalizers: RecordingFinalizers = field(default_factory=RecordingFinalizers)
    copies: FakeCopies = field(default_factory=FakeCopies)
    resolver: FakeResolver = field(default_factory=lambda: FakeResolver([IPS[B][0]]))
    witnesses: list[FaultyWitness] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.finalizers.status = self.status
        # The world as installed: DNS already names the primary region (an empty zone would
        # be drift the actor converges, which is a DNS write no test here expects).
        self.seed_dns(make_cr(), A)

    def seed_dns(self, cr: Continuum, region: str) -> None:
        """Store the records naming ``region`` for ``cr`` without counting a write."""
        plan = plan_from_spec(
            cr, from_region=region, to_region=region, reason="", initiated_by="", epoch=0
        )
        assert plan.dns is not None
        for record in lua_synthesize(lua_params(plan.dns, region)):
            self.dns.records[record.hostname] = record

    def route_in(self, region: str) -> FakeRoutes:
        """``region``'s copy of the HTTPRoute."""
        return self.routes if region == A else self.routes_b

    def witness(self) -> FaultyWitness:
        w = FaultyWitness(MemoryWitness(self.store, clock=self.clock))
        self.witnesses.append(w)
        return w

    async def _open_witness(self, cr: Continuum) -> FaultyWitness:
        return self.witness()

    def env(self, region: str = A, **overrides: Any) -> ContinuumEnvironment:
        values: dict[str, Any] = {
            "region": region,
            "clock": self.clock,
            "status": self.status,
            "finalizers": self.finalizers,
            "copies": self.copies,
            "audit": self.sink,
            "witness_for": self._open_witness,
            "collaborators_for": lambda cr: Collaborators(
                pair=self.pair,
                routes=self.route_in(region),
                region_routes={A: self.routes, B: self.routes_b},
                dns=self.dns,
                verify_dns=self.dns.verify,
            ),
            "audit_tail": FakeAuditTail(self.sink.events),
            "resolver": self.resolver,
            "vantages": ("127.0.0.1:53", "127.0.0.2:53"),
        }
        values.update(overrides)
        return ContinuumEnvironment(**values)

    def with_status(self, cr: Continuum) -> Continuum:
        """``cr`` as a new actor would read it after a restart (the status written so far)."""
        return msgspec.structs.replace(cr, status=self.status.current)

    @asynccontextmanager
    async def actor(
        self, cr: Continuum | None = None, *, region: str = A, **env: Any
    ) -> AsyncIterator[tuple[ActorRef, ContinuumActor]]:
        actor = ContinuumActor(cr or make_cr(), self.env(region, **env))
        async with run_actor(actor, clock=self.clock, name=KEY) as ref:
            yield ref, actor

    def count(self, type_: AuditType) -> int:
        return sum(1 for e in self.sink.events if e.type is type_)
