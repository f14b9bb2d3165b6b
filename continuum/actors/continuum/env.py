"""What the process gives every ContinuumActor: its region, clock and the edges it talks to.

The controller builds one :class:`ContinuumEnvironment` per process; the factories build
per-CR collaborators from the CR's spec (its witness kind, its pair, its route, its zone).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from continuum.actors.continuum.startup import StartGate
from continuum.actors.continuum.write_queue import WriteQueue
from continuum.config import DEFAULTS
from continuum.core.dns_serving import ServedAnswer
from continuum.errors import ContinuumError, WitnessUnavailable
from continuum.messages.crd import Continuum
from continuum.messages.lease import Lease
from continuum.messages.replication import ReplicationObservation
from continuum.messages.switchover import StepTimeouts
from continuum.ports import (
    AuditSink,
    AuditTail,
    Clock,
    ClusterPair,
    ContinuumCopies,
    DnsRecords,
    Finalizers,
    Resolver,
    RoleSecrets,
    StatusStore,
    TrafficRoutes,
    VerifyDns,
    Witness,
)

__all__ = ["Collaborators", "ContinuumEnvironment", "OpenOnUse"]


@dataclass(frozen=True, kw_only=True)
class Collaborators:
    """The per-CR edges of a switchover and of health; ``None`` means not configured."""

    pair: ClusterPair | None = None
    routes: TrafficRoutes | None = None
    """The route in this instance's own region: the one the switchover's steps re-weight."""
    region_routes: Mapping[str, TrafficRoutes] = field(default_factory=dict)
    """Each region's copy of the route, for every region of the pair this process has a
    kubeconfig context for (the own region's included): what convergence observes and
    repairs. Empty when the CR configures no route."""
    dns: DnsRecords | None = None
    verify_dns: VerifyDns | None = None
    dns_answers: Callable[[Sequence[str]], Awaitable[list[ServedAnswer]]] | None = None
    """What the authoritative servers (``CONTINUUM_DNS_VERIFY_SERVERS``) answer now for
    each hostname, one :class:`~continuum.core.dns_serving.ServedAnswer` per (hostname,
    server), a server that does not answer included (with its error); never raises.
    ``None``: no server configured (what DNS serves is not observed)."""
    latency: Callable[[str], Awaitable[float]] | None = None
    replication: Callable[[str], Awaitable[ReplicationObservation]] | None = None
    """SQL probe of ``pg_stat_replication`` on a region's primary (``spec.replicationProbe``);
    ``None`` when the CR configures none."""
    roles: RoleSecrets | None = None
    """Touches the managed-role password Secrets after a change of acting primary
    (controller.md §7); ``None``: off (``CONTINUUM_ROLE_REASSERT=false``, or no pair)."""


@dataclass(frozen=True, kw_only=True)
class ContinuumEnvironment:
    """Process-wide settings and factories for ContinuumActors.

    ``witness_for`` opens a witness client for the CR's ``spec.leaseClient`` (the actor
    opens it on first use and closes it); ``collaborators_for`` the CR's pair/route/DNS
    edges (rebuilt on spec change).
    """

    region: str
    clock: Clock
    status: StatusStore
    finalizers: Finalizers
    """The finalizer on the CR's copy in this region (``finalizing.py``)."""
    audit: AuditSink
    witness_for: Callable[[Continuum], Awaitable[Witness]]
    collaborators_for: Callable[[Continuum], Collaborators]
    audit_tail: AuditTail | None = None
    copies: ContinuumCopies | None = None
    """The CR's copies in the other regions (``finalizing.py``); ``None``: not checked."""
    resolver: Resolver | None = None
    health_delay_seconds: float = DEFAULTS.health_delay_seconds
    safety_margin_seconds: float = DEFAULTS.lease_safety_margin_seconds
    vantages: tuple[str, ...] = DEFAULTS.health_vantages
    probe_timeout_seconds: float = DEFAULTS.health_probe_timeout
    timeouts: StepTimeouts = field(default_factory=StepTimeouts)
    dryrun_cache_seconds: float = 5.0
    reconcile_heartbeat_seconds: float = 3600.0
    start_gate: StartGate = field(default_factory=StartGate)
    """Shared by every actor of the process: bounds and spreads their start-ups."""
    write_queue: WriteQueue = field(default_factory=WriteQueue)
    """Shared by every actor of the process: bounds their routine writes in flight."""


class OpenOnUse:
    """A :class:`~continuum.ports.Witness` that opens the real client on first use.

    Opening can fail (server down, bad config); the failure is raised as
    :class:`~continuum.errors.WitnessUnavailable` naming the cause, and the next call tries
    again, so an actor never crashes because its witness was briefly unreachable.
    """

    def __init__(self, opener: Callable[[], Awaitable[Witness]]) -> None:
        self._opener = opener
        self._inner: Witness | None = None

    async def _get(self) -> Witness:
        if self._inner is None:
            try:
                self._inner = await self._opener()
            except WitnessUnavailable:
                raise
            except ContinuumError as exc:
                raise WitnessUnavailable(f"cannot open the witness: {exc}") from exc
            except (OSError, TimeoutError) as exc:
                raise WitnessUnavailable(f"cannot reach the witness: {exc}") from exc
        return self._inner

    async def acquire(self, key: str, holder: str, ttl: float) -> Lease:
        return await (await self._get()).acquire(key, holder, ttl)

    async def renew(self, lease: Lease) -> Lease:
        return await (await self._get()).renew(lease)

    async def release(self, lease: Lease) -> None:
        await (await self._get()).release(lease)

    async def read(self, key: str) -> Lease:
        return await (await self._get()).read(key)

    async def handover(self, lease: Lease, to_holder: str, ttl: float) -> Lease:
        return await (await self._get()).handover(lease, to_holder, ttl)

    async def aclose(self) -> None:
        if self._inner is not None:
            inner, self._inner = self._inner, None
            await inner.aclose()
