"""Every port of the project: the Protocols the domain, the actors, the supervisor and the
audit publisher talk to. Adapters and witness backends implement them; wiring plugs them in.

Nothing here does I/O; ``continuum.switchover`` imports only this module, ``messages`` and
``errors``. Every method documents what it guarantees and which ``continuum.errors`` it raises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from continuum.messages.audit import AuditAck, AuditDelivery, AuditEvent, AuditType, OutboxRecord
from continuum.messages.crd import CopyState, RawList
from continuum.messages.dns import LuaRecord
from continuum.messages.lease import Lease
from continuum.messages.status import ContinuumStatus
from continuum.messages.switchover import ObjectRef, PairState, RouteState


@runtime_checkable
class Clock(Protocol):
    """The one source of time. Every wait in the project goes through it.

    ``monotonic()`` is for deadlines and intervals (never goes backwards); ``now()`` is the
    UTC wall clock for timestamps written to other systems (status, audit, witness values).
    """

    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None:
        """Return after ``seconds`` of this clock's time; cancellable at any point."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once ``monotonic() >= deadline``; cancellable at any point."""
        ...


class Witness(Protocol):
    """The lease witness contract (one slot per Continuum CR, key ``<ns>/<name>``).

    Every successful write increases the slot's ``generation`` by exactly one.

    Errors: :class:`~continuum.errors.LeaseHeldByAnother`, :class:`~continuum.errors.LeaseLost`,
    :class:`~continuum.errors.WitnessUnavailable` (the witness could not decide: never reported
    as held-by-another and never as free).
    """

    async def acquire(self, key: str, holder: str, ttl: float) -> Lease:
        """Claim the slot for ``holder`` when free, expired, or already held by ``holder``
        (then ``acquiredAt`` is kept). Raises ``LeaseHeldByAnother`` otherwise."""
        ...

    async def renew(self, lease: Lease) -> Lease:
        """Extend ``lease`` by its TTL. Raises ``LeaseLost`` when the slot's holder or
        generation no longer match ``lease`` or it has expired."""
        ...

    async def release(self, lease: Lease) -> None:
        """Free the slot if ``lease`` is still current. Idempotent: a lost or already
        released lease is not an error and changes nothing."""
        ...

    async def read(self, key: str) -> Lease:
        """The slot as stored (``holder == ""`` when free). Never writes."""
        ...

    async def handover(self, lease: Lease, to_holder: str, ttl: float) -> Lease:
        """Move a current ``lease`` to ``to_holder`` in one compare-and-set, so the slot is
        never without a holder. Raises ``LeaseLost`` when ``lease`` is not current."""
        ...

    async def aclose(self) -> None:
        """Release client resources (connections). Does not release the lease."""
        ...


class DnsRecords(Protocol):
    """Writes LUA records for a zone (PDM ``/v1/lua/commit`` or the PowerDNS API)."""

    async def commit(self, zone: str, records: Sequence[LuaRecord]) -> None:
        """Make ``records`` the live answer for their hostnames. Idempotent.
        Raises :class:`~continuum.errors.DnsWriteError`."""
        ...


@runtime_checkable
class DnsRecordCheck(Protocol):
    """A DNS writer that can also say whether it holds given records (the PowerDNS API can;
    PDM cannot). Convergence uses it to find records that no longer name the holder."""

    async def differing(self, zone: str, records: Sequence[LuaRecord]) -> list[str]:
        """The hostnames of ``records`` whose stored LUA record is not exactly the given one
        (absent included), in the order given. Never writes. Raises
        :class:`~continuum.errors.DnsWriteError` when the records cannot be read."""
        ...


VerifyDns = Callable[[Sequence[LuaRecord], Sequence[str]], Awaitable[None]]
"""Ask the authoritative server whether every record's hostname now answers with one of the
given addresses; raise :class:`~continuum.errors.DnsWriteError` when it does not."""


class TxtZone(Protocol):
    """TXT records of one DNS zone on one authoritative server (a ``dns-quorum`` member).
    Every call raises :class:`~continuum.errors.DnsWriteError` when the server could not be
    used (reads too)."""

    async def ensure_zone(self, zone: str, *, nameservers: Sequence[str] = ()) -> None:
        """Create ``zone`` unless it exists (with ``nameservers`` as its NS records)."""
        ...

    async def read_txt(self, zone: str, name: str) -> list[str]:
        """The unquoted TXT values of ``name`` (``[]`` when it has none). Never writes."""
        ...

    async def write_txt(self, zone: str, name: str, values: Sequence[str], *, ttl: int = 0) -> None:
        """Replace the TXT rrset of ``name`` with ``values``."""
        ...

    async def aclose(self) -> None:
        """Release client resources (connections)."""
        ...


@runtime_checkable
class DnsZones(Protocol):
    """A DNS writer that can also say whether it serves a zone (the PowerDNS API can; PDM
    cannot). DryRun and Execute use it to refuse a flip before the first write."""

    async def zone_exists(self, zone: str) -> bool:
        """Whether the server serves ``zone``. Raises :class:`~continuum.errors.DnsWriteError`
        when it cannot tell. Never writes."""
        ...


@runtime_checkable
class WitnessWriteProbe(Protocol):
    """A witness that can ask its store to validate a write without making it."""

    async def probe_write(self, key: str) -> None:
        """Raise :class:`~continuum.errors.WitnessUnavailable` (or a subclass such as
        ``WitnessNamespaceMissing``) when a write of ``key`` would be refused now for a
        reason other than a lost race. Never writes."""
        ...


@runtime_checkable
class PairWriteProbe(Protocol):
    """A CNPG pair that can ask each region's API server to validate a write without making
    it (``dryRun=All``: authorization, admission and validation run, nothing is stored)."""

    async def probe_writes(self) -> dict[str, Exception]:
        """Region → the error a write to that region's Cluster got now (RBAC 403, no such
        Cluster, an unreachable API), for the failing regions only. Never writes; never
        raises for one region's failure."""
        ...


@runtime_checkable
class RouteWriteProbe(Protocol):
    """Routes whose API server can validate a write without making it (``dryRun=All``)."""

    async def probe_write(self, route: ObjectRef) -> None:
        """Raise :class:`~continuum.errors.KubeError` when a weight write to ``route`` would
        be refused now (RBAC, admission). Never writes."""
        ...


class Resolver(Protocol):
    """Asks one DNS server (a vantage) for A records, with a fresh resolver per query."""

    async def resolve_a(self, name: str, *, nameserver: str, timeout: float) -> list[str]:
        """Addresses of ``name`` at ``nameserver`` (``ip`` or ``ip:port``); ``[]`` for an
        empty answer. Raises :class:`~continuum.errors.ResolverUnavailable` when the server
        does not answer within ``timeout``."""
        ...


class StatusStore(Protocol):
    """Writes a CR's status and clears its switchover request (the CR's own cluster)."""

    async def patch_status(
        self, key: str, status: ContinuumStatus, *, previous: ContinuumStatus | None
    ) -> None:
        """Merge-patch ``/status`` with what changed from ``previous`` to ``status``; retries
        conflicts; never clobbers fields that did not change. Raises ``KubeError``."""
        ...

    async def clear_switchover_request(self, key: str) -> None:
        """Set ``spec.switchover.requested`` to false, conflict-safe (re-read + retry).
        A CR that is gone is not an error."""
        ...


class Finalizers(Protocol):
    """Adds and removes the controller's finalizer (``FINALIZER`` in
    ``continuum.messages.crd``) on a CR of the instance's own cluster: the deletion of that
    copy waits until the instance lets go (``docs/decisions.md`` #20). Each call is one
    conflict-safe write of ``metadata.finalizers`` that leaves other finalizers untouched."""

    async def add_finalizer(self, key: str) -> None:
        """Make the CR carry the finalizer; no write when it already does. Raises
        ``KubeError`` (``NotFound`` when the CR is gone, ``Invalid`` when it is being deleted:
        the API server refuses new finalizers then)."""
        ...

    async def remove_finalizer(self, key: str) -> None:
        """Make the CR not carry the finalizer (the API server then deletes a CR being
        deleted whose finalizers are all gone). A CR that is gone, or does not carry it, is
        not an error. Raises ``KubeError``."""
        ...


class ContinuumCopies(Protocol):
    """Reads a Continuum's copy in any region of the pair: whether an instance there manages
    it, and what its journal says (``docs/decisions.md`` #20)."""

    async def read_copy(self, region: str, key: str) -> CopyState:
        """The copy of ``key`` in ``region``; a copy that is gone is ``exists=False``, not an
        error. Raises ``KubeError`` (``Unavailable`` when the region's API does not answer
        or no context is configured for it)."""
        ...


class AuditSink(Protocol):
    """Where actors hand audit events. Never makes the caller wait on the transport."""

    async def emit(self, event: AuditEvent) -> None:
        """Accept ``event`` for delivery (in order per CR, at least once, de-duplicated by
        ``eventId``). Returns once accepted, not once stored."""
        ...

    def delivery_state(self, continuum: str) -> AuditDelivery | None:
        """Whether ``continuum``'s accepted events have been stored (the ``AuditDelivered``
        condition), or ``None`` when this sink does not track delivery (a log-only sink)."""
        ...


class AuditTail(Protocol):
    """Answers whether an audit event has been stored (the ``audit-posted`` health check)."""

    async def find(
        self,
        *,
        event_id: str | None = None,
        type: AuditType | None = None,
        continuum: str | None = None,
        since: datetime | None = None,
    ) -> AuditEvent | None:
        """The first stored event matching every given filter, or ``None``.
        Raises :class:`~continuum.errors.AuditUnavailable` when the store is unreachable."""
        ...


class AuditTransport(Protocol):
    """The wire under the audit publisher (``adapters.nats.JetStreamAuditTransport``)."""

    @property
    def connected(self) -> bool: ...

    def on_down(self, listener: Callable[[], Awaitable[None]] | None) -> None: ...

    async def setup(self) -> None:
        """Connect and verify the stream; ``AuditUnavailable`` (retry) or another
        ``ContinuumError`` (configuration: fatal)."""
        ...

    async def publish(self, event: AuditEvent) -> AuditAck: ...

    async def publish_many(self, events: Sequence[AuditEvent]) -> list[AuditAck | str]:
        """Pipelined publishes, in this order; per event its ack or an error text."""
        ...

    async def aclose(self) -> None: ...


class ContinuumSource(Protocol):
    """The Continuum CRs of one cluster as the CR watch sees them: list, watch from the list's
    resourceVersion, and write a CR's status. Errors are ``KubeError`` subclasses."""

    async def list_raw(self, namespace: str | None = None) -> RawList:
        """Every CR in ``namespace`` (``None``: all namespaces), raw, with the list's
        resourceVersion. Never writes."""
        ...

    def watch(
        self, *, namespace: str | None, resource_version: str, timeout_seconds: int = ...
    ) -> AsyncIterator[dict[str, Any]]:
        """Events (``{"type", "object"}``: ADDED, MODIFIED, DELETED, BOOKMARK) after
        ``resource_version``, until the server ends the stream. Raises
        :class:`~continuum.errors.WatchExpired` when ``resource_version`` is too old,
        ``Unavailable`` when the connection breaks."""
        ...

    async def update_status(
        self, namespace: str, name: str, mutate: Callable[[ContinuumStatus], ContinuumStatus]
    ) -> ContinuumStatus:
        """Compute ``mutate(current status)`` and write only the difference, conflict-safe.
        Returns the status as stored; ``NotFound`` when the CR is gone."""
        ...

    def seed_version(self, namespace: str, name: str, resource_version: str) -> None:
        """The CR was seen at ``resource_version``: the first status write of this process
        may send its diff under that precondition instead of reading first. Never I/O."""
        ...


class ClusterPair(Protocol):
    """Both halves of one CNPG pair across regions (one ``Cluster`` per region), driven by
    their live spec and status — never by install-time role labels.

    Every write is idempotent (repeating it after success changes nothing) and names the
    region in its errors. Errors: :class:`~continuum.errors.KubeError` subclasses
    (``Unavailable`` when the region's API cannot be reached, ``NotFound`` when the Cluster
    is gone, ``Conflict``/``Invalid`` when the write was refused). Waits are cancellable and
    unbounded unless a ``timeout`` is given; the domain bounds every call on its own clock.
    """

    async def read_pair(self) -> PairState:
        """Both halves as they are now. A half whose region cannot be read is returned with
        ``error`` set (never raised), so an unplanned failover can still see the survivor.
        Never writes."""
        ...

    async def demote(self, region: str, *, new_primary: str) -> str:
        """Distributed topology: set ``spec.replica.primary`` of ``region``'s Cluster to the
        Cluster of region ``new_primary`` and wait for its ``status.demotionToken`` — CNPG
        then has shut the old primary down as a replica (a real write fence). Returns the
        token. Already demoted towards ``new_primary``: returns the existing token."""
        ...

    async def promote(self, region: str, *, token: str) -> None:
        """Distributed topology: set ``spec.replica.primary`` of ``region``'s Cluster to
        itself with ``spec.replica.promotionToken = token``; CNPG promotes once the replica
        has replayed up to the token. ``token == ""`` is CNPG's failover path (promote
        without a token; for an unplanned failover only). Does not wait; see
        :meth:`wait_ready_as_primary`."""
        ...

    async def fence(self, region: str) -> None:
        """Fence every instance of ``region``'s Cluster (annotation
        ``cnpg.io/fencedInstances: ["*"]``): PostgreSQL stops, so no write is accepted."""
        ...

    async def unfence(self, region: str) -> None:
        """Remove the fence set by :meth:`fence` (absent annotation: no-op)."""
        ...

    async def set_replica_enabled(self, region: str, enabled: bool) -> None:
        """Replica-flip mode: set ``spec.replica.enabled`` of ``region``'s Cluster."""
        ...

    async def wait_ready_as_primary(self, region: str, timeout: float) -> None:
        """Return once ``region``'s Cluster acts as primary (live spec) and is Ready.
        Raises ``TimeoutError`` when that has not happened within ``timeout`` seconds."""
        ...


class RoleSecrets(Protocol):
    """The password Secrets of CNPG managed roles (``spec.managed.roles[].passwordSecret``)
    in one region's API. Used to make CNPG re-apply the roles' passwords after a change of
    acting primary (controller.md §7): never reads or writes a Secret's data, never runs
    SQL."""

    async def touch(
        self, region: str, namespace: str, names: Sequence[str], *, at: datetime
    ) -> list[str]:
        """Change each Secret's ``resourceVersion`` without changing its data: set annotation
        ``catalyst.openova.io/dr-role-reassert-at`` to ``at`` (RFC 3339 UTC, microseconds)
        by a merge patch. A Secret that does not exist is skipped (a region may mint no role
        Secrets). Every name is tried; returns the names touched; after trying them all,
        raises the first other failure (a :class:`~continuum.errors.KubeError` subclass)."""
        ...


class TrafficRoutes(Protocol):
    """Backend weights of Gateway API ``HTTPRoute`` objects, keyed by backend name.

    Backends belong to a region by name (``<app>-<region>``, see
    :func:`continuum.messages.switchover.backend_in_region`). A weight absent from the route
    counts as 1 (the Gateway API default). Errors: ``KubeError`` subclasses naming the route,
    :class:`~continuum.errors.NoBackendForRegion`.
    """

    async def read_weights(self, route: ObjectRef) -> dict[str, int]:
        """Every backend's weight, name-keyed. Never writes."""
        ...

    async def read_state(self, route: ObjectRef) -> RouteState:
        """Every backend's weight, and the weights recorded before the last drain that left
        the route serving nothing (see :meth:`drain`). Never writes."""
        ...

    async def drain(self, route: ObjectRef, region: str) -> dict[str, int]:
        """Set weight 0 on every backend of ``region`` and only those; return their prior
        weights (name-keyed). No backend of ``region`` → ``NoBackendForRegion``, nothing
        written (never "drain everything": a wrong region name must not take all traffic
        away). A drain that changes a weight and leaves no backend above 0 records, in the
        same write, every backend's weight as it found them (what :meth:`read_state` returns
        as ``before_drain``, until the next such drain): what convergence restores when the
        route is left serving nothing. Idempotent."""
        ...

    async def restore(self, route: ObjectRef, prior: dict[str, int]) -> None:
        """Set each named backend back to its weight in ``prior``; backends not named are
        untouched, names no longer on the route are ignored. Idempotent."""
        ...

    async def shift_to(self, route: ObjectRef, region: str) -> dict[str, int]:
        """Make ``region`` serve: each backend of ``region`` whose weight is 0 gets weight 1
        (non-zero weights are kept); return the prior weights of the backends changed.
        No backend of ``region`` → ``NoBackendForRegion``. Idempotent."""
        ...


class OutboxStore(Protocol):
    """Durable records of accepted, not yet stored, audit events.

    ``write`` returns only once the record is durable; ``write`` of a name that already
    exists with the same content succeeds (a retried create whose answer was lost). ``delete``
    of a missing record succeeds. Every method raises
    :class:`~continuum.errors.ContinuumError` subclasses only (``Unavailable``: retry)."""

    async def load(self) -> list[OutboxRecord]:
        """Every record, sorted by :attr:`OutboxRecord.order`."""
        ...

    async def write(self, record: OutboxRecord) -> None: ...

    async def delete_group(self, group: str) -> None:
        """Delete every record of ``group`` (none left is fine)."""
        ...

    async def delete(self, name: str) -> None:
        """Delete record ``name`` (already gone is fine)."""
        ...


class ShardView(Protocol):
    """Which CRs this replica may run, when replicas of a region share the CRs
    (``docs/sharding.md``). The CR watch runs an actor for a CR only while :meth:`owns`
    says so, and :meth:`follow` tells it when to look again."""

    def owns(self, key: str) -> bool:
        """True while this replica may run the actor of ``key`` (``<namespace>/<name>``):
        it is assigned the key, has published that, and no live peer still claims it."""
        ...

    def write_check(self) -> Callable[[], str | None]:
        """The write check (:mod:`continuum.write_gate`) for an actor started now: it answers
        why the actor may not write at that instant, ``None`` when it may. It refuses from
        the moment the renew deadline passes without a renewal, before the fence has
        stopped a single actor, and for good once this replica has been fenced after the
        check was made (an actor of an earlier membership term never writes again, even
        while its stop is still under way after a rejoin)."""
        ...

    def follow(self, rebalance: Callable[[], Awaitable[None]]) -> None:
        """Have ``rebalance()`` awaited after every change of :meth:`owns`' answers; the
        view waits for it (it stops the actors of lost keys) before publishing a view in
        which this replica no longer claims them."""
        ...
