"""The simulated world two regions' instances act on: all in memory, every edge failing on
command.

One witness (the project's in-memory witness over one :class:`MemoryStore`), the CNPG pair of
the two regions, the authoritative DNS records, each region's copy of the HTTPRoute (on
that region's API server), the audit stream (deduplicated
by ``eventId``, as JetStream's duplicate window does) and each region's Continuum CR (spec and
status, as its own API server keeps them). Time is a :class:`FakeClock`.

Every call an instance makes goes through :meth:`SimWorld.call`, which applies, in order: the
instance being dead (a zombie task of a killed process touches nothing: :class:`Crash`), a
partition of its region (the witness, the other region's API server, DNS and the audit stream
do not answer), the injected faults (timeouts, refusals, 409 conflicts, 5xx, slow answers),
then the real in-memory operation, then an armed crash ("kill the process right after its
n-th next write").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal, TypeVar

import msgspec

from continuum.actors.continuum.converging import current_unobserved
from continuum.clock import FakeClock
from continuum.core.deletion_grace import UNOBSERVED
from continuum.core.deletion_wait import ADOPT
from continuum.errors import (
    AuditUnavailable,
    Conflict,
    DnsWriteError,
    Invalid,
    NotFound,
    Unavailable,
    WitnessUnavailable,
)
from continuum.messages.audit import AuditEvent
from continuum.messages.commands import SpecObserved
from continuum.messages.crd import FINALIZER, Continuum, ContinuumSpec, CopyState
from continuum.messages.dns import LuaRecord
from continuum.messages.lease import Lease
from continuum.messages.status import ContinuumStatus
from continuum.messages.switchover import ObjectRef, PairHalf, PairState, RouteState
from continuum.witness.memory import MemoryStore, MemoryWitness
from tests.switchover.fakes import KEY, A, B, FakeClusterPair, FakeDns, FakeRoutes

if TYPE_CHECKING:
    from tests.simulation.node import SimNode

__all__ = [
    "REGIONS",
    "Crash",
    "Fault",
    "FaultKind",
    "NodeAudit",
    "NodeCopies",
    "NodeDns",
    "NodeFinalizers",
    "NodePair",
    "NodeRoutes",
    "NodeStatus",
    "NodeWitness",
    "SimWorld",
    "Target",
]

T = TypeVar("T")

REGIONS = (A, B)

Target = Literal["witness", "pair", "routes", "dns", "audit", "status"]
FaultKind = Literal["timeout", "unavailable", "conflict", "server-error", "slow", "lost-reply"]

_TIMEOUT_SECONDS = 5.0
"""How much simulated time a call that times out costs its caller."""


class Crash(BaseException):
    """A simulated kill -9. Not an ``Exception``: nothing in the code under test catches it,
    so it unwinds the killed instance's tasks without running their error handling."""


@dataclass
class Fault:
    """The next ``times`` calls of ``op`` (``"*"``: any) on ``target`` made by ``region``'s
    instance (``None``: any) fail as ``kind`` (``slow``: answer after ``seconds``;
    ``lost-reply``: the call lands, then its answer is lost and the caller times out)."""

    target: Target
    op: str
    region: str | None
    kind: FaultKind
    times: int
    seconds: float = 0.0


def _error(target: Target, kind: FaultKind, op: str, region: str) -> Exception:
    text = f"simulated {kind} on {target}.{op} from {region}"
    if kind in ("timeout", "lost-reply"):
        return TimeoutError(text)
    if target == "witness":
        return WitnessUnavailable(text)
    if target == "dns":
        return DnsWriteError(text)
    if target == "audit":
        return AuditUnavailable(text)
    if kind == "conflict":
        return Conflict(text, region=region, status=409)
    return Unavailable(text, region=region, status=503 if kind == "server-error" else None)


@dataclass
class RegionApi:
    """One region's Kubernetes API as far as the Continuum CR goes: spec, metadata
    (finalizers, deletionTimestamp) and status, with the API server's deletion rule: a CR
    with finalizers is only marked (``deletionTimestamp``, the generation moves on) and is
    removed once the last finalizer goes."""

    cr: Continuum
    status: ContinuumStatus = field(default_factory=ContinuumStatus)
    writes: int = 0
    refused: int = 0
    """Status writes in a row that failed for the instance (refused, timed out, reply lost)
    since the last one that landed for it."""
    refused_at: float = 0.0
    """When the last of those failed (simulated monotonic seconds)."""
    gone: bool = False
    dropped_journal: str = ""
    """The id of an open journal the CR's removal took with it (a finding)."""
    let_go_cut_off: bool = False
    """The instance removed the finalizer while its region was cut off, once its grace for
    reading the witness had run out (it cannot tell whether the lease names it) — or, as the
    writer, while another region was cut off, once its grace for the world it could not read
    had run out (it cannot converge what it cannot reach): the waits ``docs/decisions.md``
    #20 bounds, which may leave the world unconverged."""

    def mark_deleting(self, now: datetime) -> bool:
        """``kubectl delete``: True when the CR is gone at once (no finalizers)."""
        meta = self.cr.metadata
        if not meta.finalizers:
            self.remove()
            return True
        if meta.deletion_timestamp is None:
            meta = msgspec.structs.replace(
                meta, deletion_timestamp=now, generation=(meta.generation or 1) + 1
            )
            self.cr = msgspec.structs.replace(self.cr, metadata=meta)
        return False

    def set_finalizer(self, finalizer: str, *, present: bool) -> None:
        meta = self.cr.metadata
        if (finalizer in meta.finalizers) == present:
            return
        if present and meta.deletion_timestamp is not None:
            raise Invalid("no new finalizers can be added while deleting", status=422)
        finalizers = (
            (*meta.finalizers, finalizer)
            if present
            else tuple(f for f in meta.finalizers if f != finalizer)
        )
        meta = msgspec.structs.replace(meta, finalizers=finalizers)
        self.cr = msgspec.structs.replace(self.cr, metadata=meta)
        if meta.deletion_timestamp is not None and not finalizers:
            self.remove()

    def remove(self) -> None:
        if self.status.switchover is not None:
            self.dropped_journal = self.status.switchover.id
        self.gone = True
        self.status = ContinuumStatus()


class SimWorld:
    """Everything outside the two instances. See the module docstring."""

    def __init__(self, clock: FakeClock, cr: Continuum) -> None:
        self.clock = clock
        self.store = MemoryStore()
        self.witness = MemoryWitness(self.store, clock=clock)
        self.pair = FakeClusterPair()
        self.routes = {region: FakeRoutes() for region in REGIONS}
        """Each region's copy of the HTTPRoute (as installed, both send everything to A)."""
        self.dns = FakeDns()
        self.audit: dict[str, AuditEvent] = {}
        self.audit_collisions: list[tuple[AuditEvent, AuditEvent]] = []
        self.api = {region: RegionApi(cr=cr) for region in REGIONS}
        self.faults: list[Fault] = []
        self.partitioned: set[str] = set()
        self.healed_at: dict[str, float] = {}
        """Per region, when its last partition ended (monotonic)."""
        self.pair_write_failed_at: dict[str, float] = {}
        """Per region, when its instance's last write to the pair met a fault or a partition
        (monotonic, once the call gave up)."""
        self.calls = 0
        self._timer_seq = 0
        self.disturbances = 0
        """Calls that met a fault or a partition (the DryRun invariant needs a quiet world)."""

    def heal(self, region: str) -> None:
        """End ``region``'s partition (now)."""
        self.partitioned.discard(region)
        self.healed_at[region] = self.clock.monotonic()

    def cut_since(self, since: float | None) -> bool:
        """Some region is cut off now, or was at some moment since ``since`` (``None``: no
        moment to look back to)."""
        if self.partitioned:
            return True
        return since is not None and any(at >= since for at in self.healed_at.values())

    def next_seq(self) -> int:
        """The arming order of the instances' timers (one sequence for both regions: timers
        due at the same instant fire in the order they were armed)."""
        self._timer_seq += 1
        return self._timer_seq

    # -- the gate every call passes ------------------------------------------------------

    def reachable(self, caller: str, target: Target, half: str | None = None) -> bool:
        """Whether ``caller``'s instance reaches ``target`` (``half``: that region's API)."""
        if target in ("witness", "dns", "audit"):
            return caller not in self.partitioned
        if target in ("pair", "status", "routes") and half is not None and half != caller:
            return caller not in self.partitioned and half not in self.partitioned
        return True

    def _take_fault(self, target: Target, op: str, region: str) -> Fault | None:
        for fault in self.faults:
            if (
                fault.times > 0
                and fault.target == target
                and fault.op in ("*", op)
                and fault.region in (None, region)
            ):
                fault.times -= 1
                return fault
        return None

    async def call(
        self,
        node: SimNode,
        target: Target,
        op: str,
        fn: Callable[[], Awaitable[T]],
        *,
        write: bool,
        half: str | None = None,
    ) -> T:
        """Run ``fn`` for ``node`` through the gate (module docstring). Raises ``Crash``
        for a dead caller or an armed crash after a write, the fault's error, or what
        ``fn`` raises."""
        incarnation = node.incarnation
        node.check_alive(incarnation)
        self.calls += 1
        if not self.reachable(node.region, target, half):
            self.disturbances += 1
            self.clock.advance(_TIMEOUT_SECONDS)
            self._failed(node, target, write=write)
            raise _error(target, "timeout", op, node.region)
        fault = self._take_fault(target, op, node.region)
        if fault is not None:
            self.disturbances += 1
        if fault is not None and fault.kind == "lost-reply":
            await fn()
            node.check_alive(incarnation)
            if write:
                node.wrote()
            self.clock.advance(_TIMEOUT_SECONDS)
            self._failed(node, target, write=write)
            raise _error(target, "timeout", op, node.region)
        if fault is not None:
            if fault.kind == "slow":
                self.clock.advance(fault.seconds)
            else:
                if fault.kind == "timeout":
                    self.clock.advance(_TIMEOUT_SECONDS)
                self._failed(node, target, write=write)
                raise _error(target, fault.kind, op, node.region)
        result = await fn()
        node.check_alive(incarnation)
        if write:
            node.wrote()
        return result

    def _failed(self, node: SimNode, target: Target, *, write: bool) -> None:
        if write and target == "pair":
            self.pair_write_failed_at[node.region] = self.clock.monotonic()

    def change_spec(self, node: SimNode, spec: ContinuumSpec) -> None:
        """A spec change in ``node``'s region's CR (the generation moves on); its watch
        delivers ``SpecObserved`` to a live instance."""
        api = self.api[node.region]
        if api.gone:
            return
        generation = (api.cr.metadata.generation or 1) + 1
        meta = msgspec.structs.replace(api.cr.metadata, generation=generation)
        api.cr = msgspec.structs.replace(api.cr, spec=spec, metadata=meta)
        self.observed(node)

    def observed(self, node: SimNode) -> None:
        """What the watch does after a change of ``node``'s region's CR: ``SpecObserved`` to
        a live instance; a CR gone, or being deleted without the finalizer, stops it."""
        api = self.api[node.region]
        if api.gone or (api.cr.deleting and not api.cr.finalized_by_us):
            node.deleted = api.gone
            node.kill()
            return
        if node.actor is not None:
            node.mailbox.append((SpecObserved(continuum=api.cr), None))

    def delete(self, node: SimNode) -> None:
        """The operator deletes ``node``'s region's CR."""
        api = self.api[node.region]
        if api.gone:
            return
        api.mark_deleting(self.clock.now())
        self.observed(node)

    # -- what the invariants look at -----------------------------------------------------

    def lease(self) -> Lease:
        slot = self.store._slots.get(KEY)
        return slot if slot is not None else Lease(key=KEY)

    def primaries(self) -> list[str]:
        return self.pair.primaries()

    def dns_regions(self) -> set[str]:
        return self.dns.primaries()

    def serving(self) -> dict[str, set[str]]:
        """By region, the regions its copy of the route sends traffic to."""
        return {region: routes.serving() for region, routes in self.routes.items()}

    def store_audit(self, event: AuditEvent) -> None:
        """The stream: the first event with an ``eventId`` is stored; a redelivery of the same
        event is dropped; a different event under the same ``eventId`` is a collision (one of
        the two transitions would be lost)."""
        known = self.audit.get(event.eventId)
        if known is None:
            self.audit[event.eventId] = event
        elif _transition(known) != _transition(event):
            self.audit_collisions.append((known, event))


def _transition(event: AuditEvent) -> tuple[object, ...]:
    """What makes an audit event a distinct transition (not when it was sent, nor the epoch
    or the wording of the instance that sent it)."""
    return (event.type, event.fromPrimary, event.toPrimary, event.reason, event.step)


class NodeWitness:
    """The witness as ``node`` reaches it."""

    def __init__(self, world: SimWorld, node: SimNode) -> None:
        self._w, self._node = world, node

    async def acquire(self, key: str, holder: str, ttl: float) -> Lease:
        return await self._w.call(
            self._node,
            "witness",
            "acquire",
            lambda: self._w.witness.acquire(key, holder, ttl),
            write=True,
        )

    async def renew(self, lease: Lease) -> Lease:
        return await self._w.call(
            self._node, "witness", "renew", lambda: self._w.witness.renew(lease), write=True
        )

    async def release(self, lease: Lease) -> None:
        await self._w.call(
            self._node, "witness", "release", lambda: self._w.witness.release(lease), write=True
        )

    async def read(self, key: str) -> Lease:
        return await self._w.call(
            self._node, "witness", "read", lambda: self._w.witness.read(key), write=False
        )

    async def handover(self, lease: Lease, to_holder: str, ttl: float) -> Lease:
        return await self._w.call(
            self._node,
            "witness",
            "handover",
            lambda: self._w.witness.handover(lease, to_holder, ttl),
            write=True,
        )

    async def aclose(self) -> None:
        """The shared witness outlives every client."""


class NodePair:
    """The CNPG pair as ``node`` reaches it: the other region's half is unreadable (and
    unwritable) across a partition."""

    def __init__(self, world: SimWorld, node: SimNode) -> None:
        self._w, self._node = world, node

    async def read_pair(self) -> PairState:
        state = await self._w.call(
            self._node, "pair", "read_pair", self._w.pair.read_pair, write=False
        )
        halves: list[PairHalf] = []
        for h in state.halves:
            if self._w.reachable(self._node.region, "pair", h.region):
                halves.append(h)
            else:
                self._w.disturbances += 1
                halves.append(
                    PairHalf(
                        region=h.region,
                        name=h.name,
                        namespace=h.namespace,
                        error=f"[{h.region}] API unreachable",
                    )
                )
        return PairState(halves=tuple(halves))

    async def demote(self, region: str, *, new_primary: str) -> str:
        return await self._w.call(
            self._node,
            "pair",
            "demote",
            lambda: self._w.pair.demote(region, new_primary=new_primary),
            write=True,
            half=region,
        )

    async def promote(self, region: str, *, token: str) -> None:
        await self._w.call(
            self._node,
            "pair",
            "promote",
            lambda: self._w.pair.promote(region, token=token),
            write=True,
            half=region,
        )

    async def fence(self, region: str) -> None:
        await self._w.call(
            self._node, "pair", "fence", lambda: self._w.pair.fence(region), write=True, half=region
        )

    async def unfence(self, region: str) -> None:
        await self._w.call(
            self._node,
            "pair",
            "unfence",
            lambda: self._w.pair.unfence(region),
            write=True,
            half=region,
        )

    async def set_replica_enabled(self, region: str, enabled: bool) -> None:
        await self._w.call(
            self._node,
            "pair",
            "set_replica_enabled",
            lambda: self._w.pair.set_replica_enabled(region, enabled),
            write=True,
            half=region,
        )

    async def wait_ready_as_primary(self, region: str, timeout: float) -> None:
        await self._w.call(
            self._node,
            "pair",
            "wait_ready_as_primary",
            lambda: self._w.pair.wait_ready_as_primary(region, timeout),
            write=False,
            half=region,
        )


class NodeRoutes:
    """``region``'s copy of the route, as ``node``'s instance reaches it (through that
    region's API server: cut off by a partition of either region)."""

    def __init__(self, world: SimWorld, node: SimNode, region: str) -> None:
        self._w, self._node, self._region = world, node, region
        self._routes = world.routes[region]

    async def read_weights(self, route: ObjectRef) -> dict[str, int]:
        return await self._w.call(
            self._node,
            "routes",
            "read_weights",
            lambda: self._routes.read_weights(route),
            write=False,
            half=self._region,
        )

    async def read_state(self, route: ObjectRef) -> RouteState:
        return await self._w.call(
            self._node,
            "routes",
            "read_weights",  # the same read of the route: its faults apply to both
            lambda: self._routes.read_state(route),
            write=False,
            half=self._region,
        )

    async def drain(self, route: ObjectRef, region: str) -> dict[str, int]:
        return await self._w.call(
            self._node,
            "routes",
            "drain",
            lambda: self._routes.drain(route, region),
            write=True,
            half=self._region,
        )

    async def restore(self, route: ObjectRef, prior: dict[str, int]) -> None:
        await self._w.call(
            self._node,
            "routes",
            "restore",
            lambda: self._routes.restore(route, prior),
            write=True,
            half=self._region,
        )

    async def shift_to(self, route: ObjectRef, region: str) -> dict[str, int]:
        return await self._w.call(
            self._node,
            "routes",
            "shift_to",
            lambda: self._routes.shift_to(route, region),
            write=True,
            half=self._region,
        )


class NodeDns:
    def __init__(self, world: SimWorld, node: SimNode) -> None:
        self._w, self._node = world, node

    async def commit(self, zone: str, records: Sequence[LuaRecord]) -> None:
        await self._w.call(
            self._node, "dns", "commit", lambda: self._w.dns.commit(zone, records), write=True
        )

    async def differing(self, zone: str, records: Sequence[LuaRecord]) -> list[str]:
        return await self._w.call(
            self._node,
            "dns",
            "differing",
            lambda: self._w.dns.differing(zone, records),
            write=False,
        )

    async def verify(self, records: Sequence[LuaRecord], ips: Sequence[str]) -> None:
        await self._w.call(
            self._node, "dns", "verify", lambda: self._w.dns.verify(records, ips), write=False
        )


class NodeAudit:
    """The audit stream as ``node`` reaches it."""

    def __init__(self, world: SimWorld, node: SimNode) -> None:
        self._w, self._node = world, node

    async def emit(self, event: AuditEvent) -> None:
        async def store() -> None:
            self._w.store_audit(event)

        await self._w.call(self._node, "audit", "emit", store, write=False)

    def delivery_state(self, continuum: str) -> None:
        """Not modelled: the simulated stream stores what it accepts."""
        return None


class NodeFinalizers:
    """``node``'s own region's CR: its finalizer (the watch stops the instance once the CR
    is gone)."""

    def __init__(self, world: SimWorld, node: SimNode) -> None:
        self._w, self._node = world, node

    async def add_finalizer(self, key: str) -> None:
        api = self._w.api[self._node.region]

        async def write() -> None:
            if api.gone:
                raise NotFound(f"continuum {key} is gone", status=404)
            api.set_finalizer(FINALIZER, present=True)

        await self._w.call(self._node, "status", "add_finalizer", write, write=True)

    async def remove_finalizer(self, key: str) -> None:
        api = self._w.api[self._node.region]

        async def write() -> None:
            actor = self._node.actor
            if actor is not None and actor.running is not None and api.cr.deleting:
                api.dropped_journal = actor.running.id
            if actor is not None and self._node.region in self._w.partitioned:
                api.let_go_cut_off = "witness" in actor.deletion_grace.spent
            elif actor is not None and self._w.cut_since(actor.world.observed_at):
                # Another region was cut off — now, or when the observation it let go on
                # began (a heal since, which the instance cannot have seen; seed 1119187).
                spent = actor.deletion_grace.spent
                if actor.acting():
                    api.let_go_cut_off = UNOBSERVED in spent and current_unobserved(actor)
                else:
                    # The lease named it but it could not take the role over, its witness
                    # calls failing, and its last look could not read the world whole: it
                    # could not converge what it would have (seed 1120833).
                    world = actor.world
                    api.let_go_cut_off = (
                        ADOPT in spent
                        and bool(actor.witness_error)
                        and world.unobserved(world.holder, world.tenure)
                    )
            if not api.gone:
                api.set_finalizer(FINALIZER, present=False)
                # The watch's DELETED: the instance stops (it is stopping itself already).
                self._node.deleted = api.gone

        await self._w.call(self._node, "status", "remove_finalizer", write, write=True)


class NodeCopies:
    """Every region's CR copy as ``node`` reads it (the other region's API is unreachable
    across a partition)."""

    def __init__(self, world: SimWorld, node: SimNode) -> None:
        self._w, self._node = world, node

    async def read_copy(self, region: str, key: str) -> CopyState:
        api = self._w.api[region]

        async def read() -> CopyState:
            if api.gone:
                return CopyState(exists=False)
            journal = api.status.switchover
            return CopyState(
                exists=True,
                deleting=api.cr.deleting,
                journal_to=journal.to if journal is not None else "",
            )

        return await self._w.call(self._node, "status", "read_copy", read, write=False, half=region)


class NodeStatus:
    """``node``'s own region's CR: status writes and clearing the switchover request."""

    def __init__(self, world: SimWorld, node: SimNode) -> None:
        self._w, self._node = world, node

    async def patch_status(
        self, key: str, status: ContinuumStatus, *, previous: ContinuumStatus | None
    ) -> None:
        api = self._w.api[self._node.region]

        async def write() -> None:
            if api.gone:
                raise NotFound(f"continuum {key} is gone", status=404)
            api.status = status
            api.writes += 1

        try:
            await self._w.call(self._node, "status", "patch_status", write, write=True)
        except Exception:
            api.refused += 1
            api.refused_at = self._w.clock.monotonic()
            raise
        api.refused = 0

    async def clear_switchover_request(self, key: str) -> None:
        api = self._w.api[self._node.region]

        async def write() -> None:
            spec = api.cr.spec
            switchover = msgspec.structs.replace(spec.switchover, requested=False)
            self._w.change_spec(self._node, msgspec.structs.replace(spec, switchover=switchover))

        await self._w.call(self._node, "status", "clear_switchover_request", write, write=True)
