"""The four lease operations on top of any store with a compare-and-set.

A backend supplies a :class:`SlotStore`: ``load`` returns the slot and an opaque version
token, ``store`` writes a new value only if the version is unchanged (else
:class:`CasConflict`). :class:`CasWitness` then implements the whole
:class:`~continuum.ports.Witness` contract with :mod:`continuum.witness.rules`. Every
write first asks the task's write gate (:mod:`continuum.write_gate`); a shut gate raises
:class:`~continuum.errors.WitnessUnavailable` and writes nothing.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

import anyio.lowlevel

from continuum import write_gate
from continuum.errors import LeaseHeldByAnother, LeaseLost, WitnessUnavailable
from continuum.messages.lease import Lease
from continuum.ports import Clock
from continuum.witness import rules

__all__ = ["CasConflict", "CasWitness", "SlotStore"]

V = TypeVar("V")

_ACQUIRE_ATTEMPTS = 3


class CasConflict(Exception):
    """The slot changed between ``load`` and ``store``: nothing was written."""


class SlotStore(Protocol[V]):
    """A key-value store with an atomic compare-and-set on a version token.

    ``load`` never writes; for an absent slot it returns ``(Lease(key=key), None)``.
    ``store(lease, version=None)`` creates, otherwise it replaces only when the stored
    version is still ``version``; it returns the version it wrote, or ``None`` when the
    backend does not say (the next write then loads first). Both raise
    ``WitnessUnavailable`` (or a subclass) when the store cannot answer; ``store`` raises
    :class:`CasConflict` when it answered "no".
    """

    async def load(self, key: str) -> tuple[Lease, V | None]: ...

    async def store(self, lease: Lease, *, version: V | None) -> V | None: ...

    async def aclose(self) -> None: ...


class CasWitness(Generic[V]):
    """The Witness contract over a :class:`SlotStore`.

    Every operation checks for cancellation before any I/O (a cancelled caller never writes;
    ``renew`` checks without yielding to other tasks, the others yield as well).
    ``acquire`` retries a lost compare-and-set up to three times, re-reading each time, so a
    race with a release or a renew of an expired slot does not surface as a false
    "held by another"; a race lost to a live holder raises ``LeaseHeldByAnother`` naming it.
    ``renew``/``handover`` raise ``LeaseLost`` on a lost compare-and-set (the slot moved on);
    ``release`` treats it as "already not ours".

    A renewal of the lease this instance wrote or read last skips the read: it writes under
    the version that write returned (or that read saw), so one round trip renews — an
    actor's start-up that reads its region's live lease then proves it in two, not three.
    Should anything have written the slot since, that compare-and-set fails and the renewal
    falls back to read, decide, write — the same outcome as reading first, one request later.
    """

    def __init__(self, store: SlotStore[V], *, clock: Clock, skew_margin: float = 0.0) -> None:
        self._store = store
        self._clock = clock
        self._skew_margin = skew_margin
        self._mine: dict[str, tuple[Lease, V]] = {}
        """Per slot: the lease this instance wrote or read last and the version it has."""

    async def _store_new(self, new: Lease, *, version: V | None) -> None:
        write_gate.check(lambda why: WitnessUnavailable(f"lease {new.key} not written: {why}"))
        try:
            written = await self._store.store(new, version=version)
        except BaseException:
            self._mine.pop(new.key, None)
            raise
        if written is None:
            self._mine.pop(new.key, None)
        else:
            self._mine[new.key] = (new, written)

    async def read(self, key: str) -> Lease:
        await anyio.lowlevel.checkpoint()
        lease, version = await self._store.load(key)
        if version is not None:
            self._mine[key] = (lease, version)  # a renewal of what was read skips a read
        return lease

    async def acquire(self, key: str, holder: str, ttl: float) -> Lease:
        await anyio.lowlevel.checkpoint()
        last: Lease | None = None
        for _ in range(_ACQUIRE_ATTEMPTS):
            stored, version = await self._store.load(key)
            last = stored
            new = rules.decide_acquire(
                stored, holder, ttl, self._clock.now(), skew_margin=self._skew_margin
            )
            try:
                await self._store_new(new, version=version)
            except CasConflict:
                continue
            return new
        assert last is not None
        if last.holder and last.holder != holder:
            raise LeaseHeldByAnother(key, last.holder, last.expires_at)
        raise WitnessUnavailable(f"lease {key!r}: compare-and-set kept losing; try again")

    async def renew(self, lease: Lease) -> Lease:
        # The check without the yield: a renewal is the hot path (every CR, every interval),
        # and a caller that is not cancelled loses nothing by not giving way here.
        await anyio.lowlevel.checkpoint_if_cancelled()
        mine = self._mine.get(lease.key)
        if mine is not None and mine[0] == lease:
            new = rules.decide_renew(mine[0], lease, self._clock.now())
            try:
                await self._store_new(new, version=mine[1])
            except CasConflict:
                pass  # written by someone else since: decide on what is there now
            else:
                return new
        stored, version = await self._store.load(lease.key)
        new = rules.decide_renew(stored, lease, self._clock.now())
        try:
            await self._store_new(new, version=version)
        except CasConflict:
            raise LeaseLost(f"lease {lease.key!r} changed while renewing") from None
        return new

    async def handover(self, lease: Lease, to_holder: str, ttl: float) -> Lease:
        await anyio.lowlevel.checkpoint()
        stored, version = await self._store.load(lease.key)
        new = rules.decide_handover(stored, lease, to_holder, ttl, self._clock.now())
        try:
            await self._store_new(new, version=version)
        except CasConflict:
            raise LeaseLost(f"lease {lease.key!r} changed while handing over") from None
        return new

    async def release(self, lease: Lease) -> None:
        await anyio.lowlevel.checkpoint()
        if not lease.holder:
            return
        stored, version = await self._store.load(lease.key)
        shell = rules.decide_release(stored, lease)
        if shell is None:
            return
        try:
            await self._store_new(shell, version=version)
        except CasConflict:
            return

    async def aclose(self) -> None:
        await self._store.aclose()
