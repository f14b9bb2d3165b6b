"""The Protocols the domain talks to. Adapters and witness backends implement them.

Nothing here does I/O; ``continuum.switchover`` imports only this module, ``messages`` and
``errors``. Every method documents what it guarantees and which ``continuum.errors`` it raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from continuum.messages.audit import AuditEvent, AuditType
from continuum.messages.dns import LuaRecord
from continuum.messages.lease import Lease


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


class Resolver(Protocol):
    """Asks one DNS server (a vantage) for A records, with a fresh resolver per query."""

    async def resolve_a(self, name: str, *, nameserver: str, timeout: float) -> list[str]:
        """Addresses of ``name`` at ``nameserver`` (``ip`` or ``ip:port``); ``[]`` for an
        empty answer. Raises :class:`~continuum.errors.ResolverUnavailable` when the server
        does not answer within ``timeout``."""
        ...


class AuditSink(Protocol):
    """Where actors hand audit events. Never makes the caller wait on the transport."""

    async def emit(self, event: AuditEvent) -> None:
        """Accept ``event`` for delivery (in order per CR, at least once, de-duplicated by
        ``eventId``). Returns once accepted, not once stored."""
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
