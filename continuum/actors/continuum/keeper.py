"""The CR's writer lease as this instance holds it, and the gateway a switchover writes through.

:class:`LeaseKeeper` is the only writer of the lease in this process: the actor's renewals and
the switchover's handover both go through it, one at a time (a lock), so a renewal can never
race the handover's compare-and-set, and the actor always knows which lease is current. Every
write it makes is reported to the fences of running switchovers (``Fence.note_own_write``), so
the fencing epoch a run acts under follows the actor's own renewals.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from continuum.errors import LeaseLost
from continuum.messages.lease import Lease
from continuum.ports import Clock, Witness, WitnessWriteProbe

__all__ = ["LeaseKeeper", "WitnessGateway"]


class LeaseKeeper:
    """Holds ``lease`` (``None`` while this instance holds nothing) and writes it.

    ``last_renewed`` is the monotonic time of the last successful write as holder; the actor
    stops acting as writer once ``ttl - safety_margin`` has passed since then, whatever the
    witness says (it may be unreachable).
    """

    def __init__(self, *, witness: Witness, key: str, region: str, clock: Clock) -> None:
        self.witness = witness
        self.key = key
        self.region = region
        self._clock = clock
        # fast_acquire: an uncontended acquire (every renewal) skips anyio's checkpoint.
        self._lock = anyio.Lock(fast_acquire=True)
        self.lease: Lease | None = None
        self.last_renewed: float | None = None
        self.observers: list[Callable[[Lease], None]] = []

    @property
    def holding(self) -> bool:
        """True while this instance believes it holds the lease (it may since have expired;
        see :meth:`acting`)."""
        return self.lease is not None and self.lease.holder == self.region

    def acting(self, *, ttl: float, safety_margin: float) -> bool:
        """True while this instance may act as writer: it holds the lease and less than
        ``ttl - safety_margin`` seconds of monotonic time passed since the last successful
        write. Never consults the witness."""
        if not self.holding or self.last_renewed is None:
            return False
        return self._clock.monotonic() - self.last_renewed < max(0.0, ttl - safety_margin)

    def _written(self, lease: Lease, *, started: float) -> Lease:
        self.lease = lease if lease.holder == self.region else None
        self.last_renewed = started if lease.holder == self.region else None
        for observe in list(self.observers):
            observe(lease)
        return lease

    async def adopt(self, lease: Lease) -> Lease:
        """Take ``lease`` (read from the witness, held by this region) as ours, then renew it
        at once to prove it; returns the renewed lease. Raises what renew raises, and then
        holds nothing (a lease that could not be proven is not ours)."""
        async with self._lock:
            started = self._clock.monotonic()
            try:
                renewed = await self.witness.renew(lease)
            except BaseException:
                self.lease = None
                self.last_renewed = None
                raise
            return self._written(renewed, started=started)

    async def acquire(self, ttl: float) -> Lease:
        """Acquire the slot for this region. Raises what ``Witness.acquire`` raises."""
        async with self._lock:
            started = self._clock.monotonic()
            return self._written(
                await self.witness.acquire(self.key, self.region, ttl), started=started
            )

    async def renew(self) -> Lease:
        """Renew the held lease. Raises ``LeaseLost`` when nothing is held (and drops the
        lease), and what ``Witness.renew`` raises; ``LeaseLost`` clears the held lease."""
        async with self._lock:
            if self.lease is None:
                raise LeaseLost(f"{self.key}: no lease held by {self.region!r}")
            started = self._clock.monotonic()
            try:
                return self._written(await self.witness.renew(self.lease), started=started)
            except LeaseLost:
                self.lease = None
                self.last_renewed = None
                raise

    async def handover(self, to_holder: str, ttl: float, *, expected: Lease) -> Lease:
        """Hand the held lease to ``to_holder`` in one compare-and-set. ``expected`` is the
        lease the caller's checks saw: it must be the same tenure (holder) as the one held,
        at the same or an older generation (our own renewals may have moved it on). Holding
        nothing, ``expected`` is handed over when it names this region (:meth:`_unknown_own`);
        the compare-and-set at the witness refuses it if it is no longer current."""
        async with self._lock:
            current = self.lease if self.lease is not None else self._unknown_own(expected)
            if (
                current is None
                or current.holder != expected.holder
                or expected.generation > current.generation
            ):
                raise LeaseLost(f"{self.key}: the lease checked is not the one held")
            started = self._clock.monotonic()
            return self._written(
                await self.witness.handover(current, to_holder, ttl), started=started
            )

    async def take_back(self, lease: Lease, ttl: float) -> Lease:
        """Hand ``lease`` (held by another holder, typically the target of a run being
        compensated) back to this region."""
        async with self._lock:
            started = self._clock.monotonic()
            return self._written(
                await self.witness.handover(lease, self.region, ttl), started=started
            )

    async def release(self, lease: Lease | None = None) -> None:
        """Release the held lease (idempotent; a lost lease is not an error). Holding
        nothing, release ``lease`` instead when it names this region (:meth:`_unknown_own`):
        a switchover's undo that read the lease as ours must free it, not skip it (seed
        502711: a failover's acquire lost its reply, its undo released nothing, and the
        instance later adopted the lease without ever promoting its half)."""
        async with self._lock:
            target = self.lease if self.lease is not None else self._unknown_own(lease)
            if target is not None:
                await self.witness.release(target)
            self.lease = None
            self.last_renewed = None

    def _unknown_own(self, lease: Lease | None) -> Lease | None:
        """``lease`` when it is this region's on this key (as read from the witness), else
        ``None``. Used only while the keeper holds nothing: a write of ours whose reply was
        lost (an acquire that timed out after it landed) leaves the witness naming this
        region while the keeper knows of no lease. The lease is not taken as held (it is
        not ours to renew or act under until adopted); it is only the one a release or a
        handover then acts on, and the witness's compare-and-set decides whether it still
        is current."""
        if lease is None or lease.holder != self.region or lease.key != self.key:
            return None
        return lease


class WitnessGateway:
    """The :class:`~continuum.ports.Witness` a switchover run sees: reads go to the witness,
    writes go through the :class:`LeaseKeeper` (serialised with the actor's renewals)."""

    def __init__(self, keeper: LeaseKeeper) -> None:
        self._keeper = keeper

    async def read(self, key: str) -> Lease:
        return await self._keeper.witness.read(key)

    async def probe_write(self, key: str) -> None:
        """The witness's dry-run write check (a no-op when it has none): Execute sees the
        same ``witness_write_error`` a DryRun sees. Never writes."""
        witness = self._keeper.witness
        if isinstance(witness, WitnessWriteProbe):
            await witness.probe_write(key)

    async def acquire(self, key: str, holder: str, ttl: float) -> Lease:
        if holder == self._keeper.region and key == self._keeper.key:
            return await self._keeper.acquire(ttl)
        return await self._keeper.witness.acquire(key, holder, ttl)

    async def renew(self, lease: Lease) -> Lease:
        if lease.holder == self._keeper.region and lease.key == self._keeper.key:
            return await self._keeper.renew()
        return await self._keeper.witness.renew(lease)

    async def release(self, lease: Lease) -> None:
        if lease.holder == self._keeper.region and lease.key == self._keeper.key:
            await self._keeper.release(lease)
            return
        await self._keeper.witness.release(lease)

    async def handover(self, lease: Lease, to_holder: str, ttl: float) -> Lease:
        if lease.holder == self._keeper.region and lease.key == self._keeper.key:
            return await self._keeper.handover(to_holder, ttl, expected=lease)
        if to_holder == self._keeper.region and lease.key == self._keeper.key:
            return await self._keeper.take_back(lease, ttl)
        return await self._keeper.witness.handover(lease, to_holder, ttl)

    async def aclose(self) -> None:
        """The gateway owns nothing; the actor closes the witness."""
